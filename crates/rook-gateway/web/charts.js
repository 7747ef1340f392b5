// Hand-written SVG charts: stacked bars per time bucket, and lines. No library.
import { h } from './dom.js';

const PALETTE = ['#2f6fb3', '#e07b39', '#3a9d5d', '#b84a62', '#7d5ba6', '#8c6d31', '#2a9d9d', '#777'];
export const colour = (i) => PALETTE[i % PALETTE.length];
const W = 640;
const HT = 180;
const PAD = { l: 56, r: 8, t: 8, b: 22 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function axes(svg, max, buckets, fmt, label) {
  const plotH = HT - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + plotH - (plotH * i) / 4;
    svg.append(h('line', { svg: true, x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
    svg.append(h('text', { svg: true, x: PAD.l - 4, y: y + 4, 'text-anchor': 'end', class: 'tick' }, fmt((max * i) / 4)));
  }
  if (buckets.length) {
    for (const i of [0, buckets.length - 1]) {
      const x = PAD.l + ((i + 0.5) * (W - PAD.l - PAD.r)) / buckets.length;
      svg.append(h('text', { svg: true, x, y: HT - 6, 'text-anchor': i ? 'end' : 'start', class: 'tick' }, label(buckets[i])));
    }
  }
}

/**
 * Stacked bars. `buckets`: bucket start times (ms); `series`: [{key, values}] with one
 * value per bucket. The element carries `data-total` (the sum of every value).
 */
export function stackedBars({ id, title, buckets, series, fmt, label }) {
  const totals = buckets.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
  const total = totals.reduce((a, b) => a + b, 0);
  const max = niceMax(Math.max(0, ...totals));
  const svg = h('svg', { svg: true, viewBox: `0 0 ${W} ${HT}`, class: 'chart', role: 'img', 'aria-label': title });
  axes(svg, max, buckets, fmt, label);
  const plotW = W - PAD.l - PAD.r;
  const plotH = HT - PAD.t - PAD.b;
  const bw = plotW / Math.max(1, buckets.length);
  buckets.forEach((t, i) => {
    let y = PAD.t + plotH;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (v <= 0) return;
      const bh = (v / max) * plotH;
      y -= bh;
      svg.append(h('rect', {
        svg: true, x: PAD.l + i * bw + bw * 0.1, y, width: Math.max(1, bw * 0.8), height: Math.max(0.5, bh),
        fill: colour(k), class: 'bar', 'data-key': s.key, 'data-value': v,
      }, h('title', { svg: true }, `${s.key} · ${label(t)}: ${fmt(v)}`)));
    });
  });
  return h('figure', { class: 'chart-box', id, 'data-total': Number(total.toFixed(6)) },
    h('figcaption', {}, h('strong', {}, title), ' · total ', h('span', { class: 'total' }, fmt(total))),
    svg);
}

/** Lines, one per series (gaps where a value is null). */
export function lines({ id, title, buckets, series, fmt, label }) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const max = niceMax(Math.max(0, ...all));
  const svg = h('svg', { svg: true, viewBox: `0 0 ${W} ${HT}`, class: 'chart', role: 'img', 'aria-label': title });
  axes(svg, max, buckets, fmt, label);
  const plotW = W - PAD.l - PAD.r;
  const plotH = HT - PAD.t - PAD.b;
  const x = (i) => PAD.l + ((i + 0.5) * plotW) / Math.max(1, buckets.length);
  const y = (v) => PAD.t + plotH - (v / max) * plotH;
  series.forEach((s, k) => {
    let d = '';
    let pen = 'M';
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = 'M'; return; }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = 'L';
      svg.append(h('circle', { svg: true, cx: x(i), cy: y(v), r: 2.5, fill: colour(k) },
        h('title', { svg: true }, `${s.key} · ${label(buckets[i])}: ${fmt(v)}`)));
    });
    if (d) svg.append(h('path', { svg: true, d, stroke: colour(k), fill: 'none', 'stroke-width': 1.5 }));
  });
  return h('figure', { class: 'chart-box', id }, h('figcaption', {}, h('strong', {}, title)), svg);
}

/** A legend for series keys. */
export function legend(keys) {
  return h('ul', { class: 'legend' }, keys.map((k, i) =>
    h('li', {}, h('svg', { svg: true, width: 10, height: 10 }, h('rect', { svg: true, width: 10, height: 10, fill: colour(i) })), ` ${k}`)));
}

/**
 * Dense per-bucket values from an `/api/usage/timeseries` answer: every bucket of the
 * window (empty ones as 0, or null for `gap`), for one metric.
 */
export function densify(ts, metric, gap = false) {
  const step = ts.bucket_seconds * 1000;
  const first = Math.floor(ts.since_ms / step) * step;
  const buckets = [];
  for (let t = first; t < ts.until_ms; t += step) buckets.push(t);
  const index = new Map(buckets.map((t, i) => [t, i]));
  const series = ts.series.map((s) => {
    const values = buckets.map(() => (gap ? null : 0));
    for (const p of s.points) {
      const i = index.get(p.ts_ms);
      if (i !== undefined) values[i] = p[metric];
    }
    return { key: s.key, values };
  });
  return { buckets, series };
}
