// The threshold curve on the bot settings page: the admin uploads an
// evaluation file (JSON Lines, the `kefu kb eval` format), the console runs
// it through POST …/kb/eval (nothing is stored) and draws the report's
// `curve` as inline SVG — coverage and off-topic hand-off against the
// threshold — with the form's current suggest and answer thresholds marked.
// A click on the curve (or a row's button in the table under it, the same
// numbers for keyboards and screen readers) puts that threshold into the
// settings form; saving is the form's, as before.
//
// How to read a point (crates/kefu-kb/src/eval.rs): coverage and off-topic
// hand-off take the threshold as the suggest threshold; outright answers,
// their precision and count take it as the answer threshold.

import { h, clear } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import { apiText } from '../../lib/api.js';
import { errorText } from '../../lib/errors.js';
import { wsPath, card, busy } from './common.js';

const SVG = 'http://www.w3.org/2000/svg';
// The drawing's own units; the SVG scales to its box (viewBox).
const W = 560;
const H = 280;
const M = { left: 52, right: 16, top: 16, bottom: 44 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

let uid = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

const x = (thr) => M.left + thr * PW;
const y = (v) => M.top + (1 - v) * PH;
const pct = (v) => `${(Math.round(v * 1000) / 10).toFixed(1)}%`;
const thr2 = (v) => Number(v).toFixed(2);

/**
 * The card. `answerInput` and `suggestInput` are the settings form's
 * threshold inputs: their values are marked, and a picked point goes there.
 */
export function curveCard(ctx, answerInput, suggestInput) {
  const fileInput = h('input', {
    type: 'file', accept: '.jsonl,.ndjson,.json,.txt,application/x-ndjson', class: 'sr-only', id: 'bot-eval-file',
  });
  const upload = h('button', { class: 'btn', type: 'button', 'on:click': () => fileInput.click() }, t('admin.curve.upload'));
  const result = h('div', { class: 'curve-result stack-sm', 'aria-live': 'polite' });
  const c = card(t('admin.curve.title'),
    h('p', { class: 'muted small' }, t('admin.curve.intro')),
    h('p', { class: 'hint mono small' }, '{"question": "怎么退货？", "expected_external_id": "returns"}'),
    h('div', { class: 'row' }, upload, fileInput),
    result);
  c.el.classList.add('curve-card');
  // The shown report follows the form's thresholds as they are typed.
  let follow = () => {};
  answerInput.addEventListener('input', () => follow());
  suggestInput.addEventListener('input', () => follow());
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    clear(result);
    await busy(upload, async () => {
      const text = await file.text();
      const report = JSON.parse(await apiText('POST', wsPath(ctx, '/kb/eval'), text, 'application/x-ndjson'));
      const shown = renderReport(report, file.name, answerInput, suggestInput);
      follow = shown.sync;
      result.append(shown.el);
    }, (err) => {
      const fields = err && err.details && err.details.fields;
      result.append(h('div', { class: 'callout callout-danger stack-sm', role: 'alert' },
        h('strong', null, t('admin.curve.failed', { file: file.name })),
        h('p', null, errorText(err)),
        fields ? h('pre', { class: 'code' }, Object.values(fields).join('\n')) : null));
    });
  });
  return c.el;
}

/** Summary, chart, "a click sets …" choice, table; `sync()` re-marks the form's thresholds. */
function renderReport(r, fileName, answerInput, suggestInput) {
  const curve = r.curve || [];
  let target = 'suggest';
  const status = h('p', { class: 'small curve-status', role: 'status' });
  const pick = (thr) => {
    const inp = target === 'answer' ? answerInput : suggestInput;
    inp.value = thr2(thr);
    inp.dispatchEvent(new Event('input', { bubbles: true }));
    status.textContent = t('admin.curve.picked', {
      field: t(target === 'answer' ? 'admin.bot.answerThreshold' : 'admin.bot.suggestThreshold'), value: thr2(thr),
    });
  };
  const choice = h('fieldset', { class: 'curve-target row' },
    h('legend', { class: 'small' }, t('admin.curve.pickLabel')),
    ...['suggest', 'answer'].map((v) => h('label', { class: 'row small' },
      h('input', { type: 'radio', name: 'curve-target', value: v, checked: v === target,
        'on:change': (e) => { if (e.target.checked) target = v; } }),
      t(v === 'answer' ? 'admin.curve.pickAnswer' : 'admin.curve.pickSuggest'))));

  const chart = drawChart(curve, pick);
  const table = numbersTable(curve, pick);
  // An empty field marks nothing (Number('') would be 0), in both views.
  const val = (input) => (input.value === '' ? NaN : Number(input.value));
  const sync = () => {
    const a = val(answerInput);
    const sg = val(suggestInput);
    chart.mark(a, sg);
    table.mark(a, sg);
  };
  sync();

  const el = h('div', { class: 'stack-sm curve-report' },
    h('p', { class: 'small' }, t('admin.curve.summary', {
      file: fileName, cases: r.cases, inScope: r.in_scope, offTopic: r.off_topic, hit: pct(r.hit_at_1 || 0),
    })),
    chart.el,
    h('p', { class: 'hint' }, t('admin.curve.howToRead')),
    choice,
    status,
    table.el);
  return { el, sync };
}

/** The SVG figure; `.mark(answer, suggest)` moves the two markers. */
function drawChart(curve, pick) {
  const id = `curve-${++uid}`;
  const svg = s('svg', {
    class: 'curve-svg', viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-labelledby': `${id}-t ${id}-d`,
  });
  const desc = s('desc', { id: `${id}-d` });
  svg.append(s('title', { id: `${id}-t` }, t('admin.curve.chartTitle')), desc);

  const grid = s('g', { class: 'chart-grid', 'aria-hidden': 'true' });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    grid.append(s('line', { class: v === 0 ? 'chart-base' : '', x1: M.left, x2: M.left + PW, y1: y(v), y2: y(v) }),
      s('text', { class: 'chart-scale', x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, `${v * 100}%`));
  }
  for (const v of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    grid.append(s('line', { x1: x(v), x2: x(v), y1: M.top + PH, y2: M.top + PH + 4 }),
      s('text', { class: 'chart-label', x: x(v), y: M.top + PH + 16, 'text-anchor': 'middle' }, thr2(v)));
  }
  grid.append(
    s('text', { class: 'chart-label curve-axis', x: M.left + PW / 2, y: H - 6, 'text-anchor': 'middle' }, t('admin.curve.axisX')),
    s('text', { class: 'chart-label curve-axis', x: 12, y: M.top + PH / 2, 'text-anchor': 'middle',
      transform: `rotate(-90 12 ${M.top + PH / 2})` }, t('admin.curve.axisY')));
  svg.append(grid);

  const line = (key, cls) => s('polyline', {
    class: `curve-line ${cls}`, fill: 'none', 'aria-hidden': 'true',
    points: curve.map((p) => `${x(p.threshold).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' '),
  });
  svg.append(line('coverage', 'curve-coverage'), line('off_topic_handoff', 'curve-handoff'));

  // The markers: the form's thresholds.
  const marker = (cls, label) => {
    const text = s('text', { class: 'curve-marker-label', y: M.top - 4, 'text-anchor': 'middle' }, label);
    const ln = s('line', { y1: M.top, y2: M.top + PH });
    const g = s('g', { class: `curve-marker ${cls}`, 'aria-hidden': 'true' }, ln, text);
    g.place = (v) => {
      const ok = Number.isFinite(v) && v >= 0 && v <= 1;
      g.setAttribute('visibility', ok ? 'visible' : 'hidden');
      if (!ok) return;
      for (const a of ['x1', 'x2']) ln.setAttribute(a, x(v));
      text.setAttribute('x', x(v));
      g.dataset.value = thr2(v);
    };
    return g;
  };
  const mSuggest = marker('curve-marker-suggest', t('admin.curve.markSuggest'));
  const mAnswer = marker('curve-marker-answer', t('admin.curve.markAnswer'));
  svg.append(mSuggest, mAnswer);

  // The points: a column per threshold to click, with a tooltip.
  const step = PW / Math.max(1, curve.length - 1);
  const points = s('g', { class: 'curve-points' });
  for (const p of curve) {
    const tip = t('admin.curve.point', { t: thr2(p.threshold), coverage: pct(p.coverage), handoff: pct(p.off_topic_handoff) });
    const g = s('g', { class: 'curve-point', 'data-threshold': thr2(p.threshold) },
      s('title', {}, tip),
      s('rect', { class: 'curve-hit', x: x(p.threshold) - step / 2, width: step, y: M.top, height: PH }),
      s('circle', { class: 'curve-dot curve-coverage', cx: x(p.threshold), cy: y(p.coverage), r: 3.5 }),
      s('circle', { class: 'curve-dot curve-handoff', cx: x(p.threshold), cy: y(p.off_topic_handoff), r: 3.5 }));
    g.addEventListener('click', () => pick(p.threshold));
    points.append(g);
  }
  svg.append(points);

  const legend = h('ul', { class: 'curve-legend small' },
    h('li', null, h('span', { class: 'curve-swatch curve-coverage', 'aria-hidden': 'true' }), t('admin.curve.coverage')),
    h('li', null, h('span', { class: 'curve-swatch curve-handoff', 'aria-hidden': 'true' }), t('admin.curve.handoff')),
    h('li', null, h('span', { class: 'curve-swatch curve-marker-swatch', 'aria-hidden': 'true' }), t('admin.curve.markers')));
  const el = h('figure', { class: 'chart curve-chart' },
    h('figcaption', { class: 'chart-caption' }, t('admin.curve.chartTitle')), svg, legend);
  const at = (v) => curve.find((p) => Math.abs(p.threshold - v) < 1e-6);
  return {
    el,
    mark(answer, suggest) {
      mAnswer.place(answer);
      mSuggest.place(suggest);
      const p = at(suggest);
      desc.textContent = p
        ? t('admin.curve.desc', { t: thr2(suggest), coverage: pct(p.coverage), handoff: pct(p.off_topic_handoff) })
        : t('admin.curve.chartTitle');
    },
  };
}

/** Every point as a row, with a button that picks it; `.mark()` flags the current rows. */
function numbersTable(curve, pick) {
  const rows = curve.map((p) => {
    const use = h('button', {
      class: 'btn btn-sm', type: 'button', 'on:click': () => pick(p.threshold),
      'aria-label': t('admin.curve.useLabel', { t: thr2(p.threshold) }),
    }, t('admin.curve.use'));
    const flag = h('span', { class: 'badge badge-muted curve-current', hidden: true });
    const tr = h('tr', { dataset: { threshold: thr2(p.threshold) } },
      h('th', { scope: 'row', class: 'num' }, thr2(p.threshold), ' ', flag),
      h('td', { class: 'num' }, pct(p.coverage)),
      h('td', { class: 'num' }, pct(p.off_topic_handoff)),
      h('td', { class: 'num' }, pct(p.outright)),
      h('td', { class: 'num' }, pct(p.answer_precision)),
      h('td', { class: 'num' }, String(p.answered)),
      h('td', null, use));
    tr.flag = flag;
    tr.threshold = p.threshold;
    return tr;
  });
  const el = h('div', { class: 'scroll-x' }, h('table', { class: 'table curve-table' },
    h('caption', { class: 'sr-only' }, t('admin.curve.table')),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', class: 'num' }, t('admin.curve.colThreshold')),
      h('th', { scope: 'col', class: 'num' }, t('admin.curve.colCoverage')),
      h('th', { scope: 'col', class: 'num' }, t('admin.curve.colHandoff')),
      h('th', { scope: 'col', class: 'num' }, t('admin.curve.colOutright')),
      h('th', { scope: 'col', class: 'num' }, t('admin.curve.colPrecision')),
      h('th', { scope: 'col', class: 'num' }, t('admin.curve.colAnswered')),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
    h('tbody', null, rows)));
  return {
    el,
    mark(answer, suggest) {
      for (const tr of rows) {
        const names = [];
        if (Math.abs(tr.threshold - suggest) < 1e-6) names.push(t('admin.curve.markSuggest'));
        if (Math.abs(tr.threshold - answer) < 1e-6) names.push(t('admin.curve.markAnswer'));
        tr.flag.hidden = !names.length;
        tr.flag.textContent = names.join(' · ');
        tr.classList.toggle('curve-row-current', names.length > 0);
      }
    },
  };
}
