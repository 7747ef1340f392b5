// Live: the most recent requests, refreshed every 2 seconds.
import { get, ApiError } from './api.js';
import { h, table, ms, num, usd, badge } from './dom.js';

const cell = (v) => h('td', {}, v === null || v === undefined ? '–' : v);

export async function render(el) {
  const status = h('p', { class: 'muted' }, 'Refreshing every 2 s.');
  const body = h('div', {});
  el.append(h('h1', {}, 'Live'), status, body);
  let stopped = false;
  async function poll() {
    try {
      const { data } = await get('/api/requests/recent?limit=100');
      const rows = data.map((r) => h('tr', { 'data-request': r.request_id },
        cell(new Date(r.at).toISOString().slice(11, 19)), cell(r.request_id), cell(r.endpoint), cell(r.route),
        cell(r.account), cell(r.key_id), cell(num(r.attempts)),
        h('td', {}, badge(r.outcome, r.outcome === 'success' ? 'healthy' : 'unhealthy')), cell(r.error_class),
        cell(r.status), cell(ms(r.latency_ms)), cell(r.stream ? 'yes' : 'no'),
        cell(r.input_tokens), cell(r.output_tokens), cell(r.cost_usd === null ? null : usd(r.cost_usd))));
      body.replaceChildren(rows.length
        ? table(['Time (UTC)', 'Request id', 'Endpoint', 'Route', 'Account', 'Key', 'Attempts', 'Outcome', 'Error', 'Status', 'Latency', 'Stream', 'In', 'Out', 'Cost'], rows, { id: 'live-table' })
        : h('p', {}, 'No requests yet.'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        body.replaceChildren(h('p', { class: 'notice' }, 'This server does not offer the recent-requests view (GET /api/requests/recent); upgrade rook-server to see live traffic here.'));
        return;
      }
      status.textContent = `Could not refresh: ${e.message}`;
    }
    if (!stopped) timer = setTimeout(poll, 2000);
  }
  let timer = null;
  await poll();
  return () => { stopped = true; clearTimeout(timer); };
}
