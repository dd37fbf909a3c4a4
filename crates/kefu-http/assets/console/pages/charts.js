// Bar charts as inline SVG, generated here (no libraries, no CDN).
//
// Horizontal positions are percentages and vertical ones pixels, so the
// chart stretches to any width without scaling its text (readable at
// 360 px as on a desktop). Each chart is a <figure> with:
//   - an <svg role="img"> labelled by its <title> and described by <desc>
//     (the total and the largest bar, for screen readers);
//   - a <title> on every bar (a tooltip with the exact value);
//   - a <details> table with every value: the accessible fallback, and the
//     way to read exact numbers without a mouse.
// Styling is in admin.css (.chart-*); colours come from CSS variables.

import { h } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 180; // px, the whole drawing
const TOP = 18; // room for the scale label
const BOTTOM = 22; // room for the x labels

let uid = 0;

/** An SVG element with attributes and children. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** A "nice" rounded maximum for the scale: 1, 2, 5 × 10^n. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** Which x labels to print so they do not overlap: every `step`-th. */
function labelStep(n) {
  if (n <= 8) return 1;
  if (n <= 16) return 2;
  if (n <= 31) return n <= 24 ? 3 : 5;
  return Math.ceil(n / 8);
}

/**
 * A vertical bar chart.
 * @param {object} o
 * @param {string} o.title        accessible title (also the figure caption)
 * @param {string[]} o.labels     one per bar (x axis)
 * @param {number[]} o.values     one per bar (null counts as 0)
 * @param {string} [o.valueName]  column heading of the table fallback
 * @param {string} [o.labelName]  column heading for the labels
 * @param {(v:number)=>string} [o.format] value formatting (default: integer)
 * @param {string} [o.className]  extra class on the figure
 * @param {string[]} [o.tipLabels] longer labels for tooltips and the table
 * @returns {HTMLElement}
 */
export function barChart(o) {
  const values = o.values.map((v) => (Number.isFinite(v) ? v : 0));
  const fmt = o.format || ((v) => String(Math.round(v)));
  const tips = o.tipLabels || o.labels;
  const id = `chart-${++uid}`;
  const caption = h('figcaption', { class: 'chart-caption', id: `${id}-t` }, o.title);
  const figure = h('figure', { class: `chart ${o.className || ''}`.trim() }, caption);
  const total = values.reduce((a, b) => a + b, 0);
  if (!values.length || values.every((v) => v === 0)) {
    figure.append(h('p', { class: 'chart-empty' }, t('charts.empty')));
    return figure;
  }
  const max = niceMax(Math.max(...values));
  const n = values.length;
  const slot = 100 / n; // % per bar
  const gap = Math.min(slot * 0.25, 1.5);
  const plot = HEIGHT - TOP - BOTTOM;
  const peak = values.indexOf(Math.max(...values));

  const svg = s('svg', {
    class: 'chart-svg',
    width: '100%',
    height: HEIGHT,
    role: 'img',
    'aria-labelledby': `${id}-t ${id}-d`,
  });
  svg.append(
    s('title', { id: `${id}-svgt` }, o.title),
    s('desc', { id: `${id}-d` }, t('charts.desc', { total: fmt(total), peak: tips[peak], value: fmt(values[peak]) })),
  );
  // Scale: a line at the top (the rounded max) and the baseline.
  const grid = s('g', { class: 'chart-grid', 'aria-hidden': 'true' },
    s('line', { x1: '0%', x2: '100%', y1: TOP, y2: TOP }),
    s('line', { x1: '0%', x2: '100%', y1: TOP + plot / 2, y2: TOP + plot / 2 }),
    s('line', { class: 'chart-base', x1: '0%', x2: '100%', y1: TOP + plot, y2: TOP + plot }),
    s('text', { class: 'chart-scale', x: '0%', y: TOP - 5 }, fmt(max)),
  );
  svg.append(grid);
  const bars = s('g', { class: 'chart-bars' });
  const step = labelStep(n);
  values.forEach((v, i) => {
    const bh = Math.max(v > 0 ? 1 : 0, (v / max) * plot);
    const x = i * slot + gap / 2;
    bars.append(s('rect', {
      class: 'chart-bar',
      x: `${x}%`,
      width: `${slot - gap}%`,
      y: TOP + plot - bh,
      height: bh,
      rx: 2,
    }, s('title', {}, `${tips[i]}: ${fmt(v)}`)));
    if (i % step === 0) {
      bars.append(s('text', {
        class: 'chart-label',
        x: `${i * slot + slot / 2}%`,
        y: HEIGHT - 6,
        'text-anchor': 'middle',
        'aria-hidden': 'true',
      }, o.labels[i]));
    }
  });
  svg.append(bars);
  figure.append(svg, tableFallback(o, tips, values, fmt));
  return figure;
}

/** The values as a table inside a <details> (closed by default). */
function tableFallback(o, tips, values, fmt) {
  return h('details', { class: 'chart-table' },
    h('summary', {}, t('charts.table')),
    h('table', { class: 'table' },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, o.labelName || ''),
        h('th', { scope: 'col', class: 'num' }, o.valueName || ''))),
      h('tbody', {}, ...values.map((v, i) => h('tr', {},
        h('th', { scope: 'row' }, tips[i]),
        h('td', { class: 'num' }, fmt(v))))),
    ),
  );
}

/**
 * A horizontal meter for a rate in [0, 1] (bot containment, resolution, hand-off):
 * a <div role="meter"> with the percentage as its text.
 */
export function rateMeter(label, rate) {
  const pct = rate == null ? null : Math.round(rate * 1000) / 10;
  const fill = h('div', { class: 'meter-fill' });
  fill.style.width = `${pct ?? 0}%`;
  const attrs = { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100' };
  if (pct != null) {
    attrs['aria-valuenow'] = String(pct);
    attrs['aria-valuetext'] = `${pct}%`;
  }
  return h('div', attrs, fill);
}
