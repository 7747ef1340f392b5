// Overview: status, accounts by health, traffic of the last hour, today's tokens and spend.
import { get } from './api.js';
import { h, section, num, usd, ms, pct, duration, badge } from './dom.js';
import { stackedBars, densify } from './charts.js';

const clock = (t) => new Date(t).toISOString().slice(11, 16);
const dayClock = (t) => new Date(t).toISOString().slice(5, 16).replace('T', ' ');

function stat(label, value, id) {
  return h('div', { class: 'stat', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

export async function render(el) {
  const today = new Date().toISOString().slice(0, 10);
  const [status, hour, day, series, daySeries] = await Promise.all([
    get('/api/status'),
    get('/api/usage?since=1h&group_by=outcome'),
    get(`/api/usage?since=${today}&group_by=model`),
    get('/api/usage/timeseries?since=1h&bucket=1m&group_by=model'),
    get('/api/usage/timeseries?since=24h&bucket=1h&group_by=model'),
  ]);
  const lastMinutes = densify(series, 'requests');
  const n = lastMinutes.buckets.length;
  const perMin = n < 2 ? 0 : lastMinutes.series.reduce((s, x) => s + (x.values[n - 2] || 0), 0);
  const t = hour.totals;
  const byStatus = status.accounts.by_status;
  el.append(
    h('h1', {}, 'Overview'),
    h('div', { class: 'stats' },
      stat('Version', status.version),
      stat('Uptime', duration(status.uptime_seconds)),
      stat('Bind', `${status.bind.address}${status.bind.loopback ? ' (loopback)' : ''}`),
      stat('Database', `${status.database.backend}${status.database.problem ? ` — ${status.database.problem}` : ''}`),
      stat('State', status.draining ? 'draining' : 'serving'),
      stat('Config version', status.config_version ?? '–'),
    ),
    section('Accounts',
      h('div', { class: 'stats' },
        Object.entries(byStatus).map(([k, v]) => stat(k, h('span', {}, badge(String(v), k)), `accounts-${k}`)),
        stat('Routes without an account', status.routes.without_available_account.length
          ? status.routes.without_available_account.join(', ') : 'none'),
      )),
    section('Traffic, last hour',
      h('div', { class: 'stats' },
        stat('Requests/min (last full minute)', num(perMin), 'requests-per-minute'),
        stat('Requests', num(t.requests)),
        stat('Error rate', pct(t.requests ? t.failed_requests / t.requests : 0), 'error-rate'),
        stat('Latency p50 / p95', `${ms(t.latency_p50_ms)} / ${ms(t.latency_p95_ms)}`),
        stat('Retries exhausted (15 min)', num(status.recent_retry_exhaustion.requests)),
      ),
      h('div', { class: 'charts' },
        stackedBars({ id: 'overview-requests', title: 'Requests per minute by model, last hour', ...lastMinutes, fmt: num, label: clock }),
        stackedBars({ id: 'overview-day', title: 'Requests per hour by model, last 24 h', ...densify(daySeries, 'requests'), fmt: num, label: dayClock })),
      h('p', { class: 'muted' }, 'Outcomes: ',
        (hour.groups.outcome || []).map((g) => `${g.key} ${num(g.requests)}`).join(' · ') || 'no requests')),
    section('Today (UTC)',
      h('div', { class: 'stats' },
        stat('Requests', num(day.totals.requests)),
        stat('Tokens', num(day.totals.total_tokens), 'tokens-today'),
        stat('Spend', usd(day.totals.cost_usd), 'spend-today'),
      )),
  );
}
