// Usage: requests, tokens, cost and latency per bucket, grouped; a table; CSV download.
import { get } from './api.js';
import { h, table, num, usd, ms } from './dom.js';
import { stackedBars, lines, legend, densify } from './charts.js';

const WINDOWS = [['1h', '1m'], ['6h', '5m'], ['24h', '15m'], ['7d', '1h'], ['30d', '6h']];
const GROUPS = ['model', 'account', 'endpoint', 'key'];

function csv(ts) {
  const head = ['group', 'bucket_start', 'requests', 'failed_requests', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd', 'latency_avg_ms', 'latency_max_ms'];
  const quote = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const rows = ts.series.flatMap((s) => s.points.map((p) => [s.key, new Date(p.ts_ms).toISOString(),
    p.requests, p.failed_requests, p.prompt_tokens, p.completion_tokens, p.total_tokens, p.cost_usd, p.latency_avg_ms, p.latency_max_ms]));
  return [head, ...rows].map((r) => r.map(quote).join(',')).join('\n') + '\n';
}

export async function render(el) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  let since = params.get('since') || '24h';
  let group = params.get('group_by') || 'model';
  let drawn = 0;
  async function draw() {
    // A slower answer to an earlier choice must not overwrite a later one.
    const ticket = ++drawn;
    const bucket = (WINDOWS.find(([w]) => w === since) || WINDOWS[2])[1];
    const ts = await get(`/api/usage/timeseries?since=${since}&bucket=${bucket}&group_by=${group}`);
    if (ticket !== drawn) return;
    el.dataset.shown = `${since} by ${ts.group_by}`;
    const short = ['1h', '6h'].includes(since);
    const label = (t) => new Date(t).toISOString().slice(short ? 11 : 5, 16).replace('T', ' ');
    const chart = (id, title, metric, fmt) => stackedBars({ id, title, ...densify(ts, metric), fmt, label });
    const picker = h('div', { class: 'picker' },
      h('label', {}, 'Window ', h('select', { id: 'usage-window', onchange: (e) => { since = e.target.value; draw(); } },
        WINDOWS.map(([w]) => h('option', { value: w, selected: w === since }, w)))),
      h('label', {}, ' Group by ', h('select', { id: 'usage-group', onchange: (e) => { group = e.target.value; draw(); } },
        GROUPS.map((g) => h('option', { value: g, selected: g === group }, g)))),
      h('button', { type: 'button', id: 'usage-csv', onclick: () => {
        const url = URL.createObjectURL(new Blob([csv(ts)], { type: 'text/csv' }));
        const a = h('a', { href: url, download: `rook-usage-${since}-by-${group}.csv` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } }, 'Download CSV'));
    const t = ts.totals;
    const rows = ts.series.map((s) => h('tr', { 'data-group': s.key },
      h('td', {}, s.key), h('td', {}, num(s.totals.requests)), h('td', {}, num(s.totals.failed_requests)),
      h('td', {}, num(s.totals.total_tokens)), h('td', {}, usd(s.totals.cost_usd)),
      h('td', {}, ms(s.totals.latency_avg_ms)), h('td', {}, ms(s.totals.latency_max_ms))));
    rows.push(h('tr', { class: 'total-row' }, h('td', {}, 'total'), h('td', {}, num(t.requests)), h('td', {}, num(t.failed_requests)),
      h('td', {}, num(t.total_tokens)), h('td', {}, usd(t.cost_usd)), h('td', {}, ms(t.latency_avg_ms)), h('td', {}, ms(t.latency_max_ms))));
    el.replaceChildren(
      h('h1', {}, 'Usage'),
      picker,
      legend(ts.series.map((s) => s.key)),
      h('div', { class: 'charts' },
        chart('chart-requests', 'Requests', 'requests', num),
        chart('chart-tokens', 'Tokens', 'total_tokens', num),
        chart('chart-cost', 'Cost', 'cost_usd', usd),
        lines({ id: 'chart-latency', title: 'Mean latency', ...densify(ts, 'latency_avg_ms', true), fmt: ms, label })),
      table(['Group', 'Requests', 'Failed', 'Tokens', 'Cost', 'Mean latency', 'Max latency'], rows, { id: 'usage-table' }));
  }
  await draw();
}
