// Audit: admin changes with actor, client address and request id, newest first.
import { get } from './api.js';
import { h, table, time } from './dom.js';

export async function render(el) {
  const rows = [];
  const tbody = table(['Time (UTC)', 'Actor', 'Action', 'Entity', 'Client', 'Request id'], rows, { id: 'audit-table' });
  const more = h('button', { type: 'button' }, 'Older');
  let before = null;
  async function page() {
    const q = before ? `&before=${before}` : '';
    const { events, next_before: next } = await get(`/api/audit/events?limit=50${q}`);
    for (const e of events) {
      tbody.tBodies[0].append(h('tr', {},
        h('td', {}, time(e.ts)), h('td', {}, e.actor), h('td', {}, e.action),
        h('td', {}, `${e.entity_type} ${e.entity_id}`), h('td', {}, e.client_addr || '–'), h('td', {}, e.request_id || '–')));
    }
    before = next;
    more.hidden = next === null;
  }
  more.addEventListener('click', () => page());
  await page();
  el.append(h('h1', {}, 'Audit'), tbody, auditHint(), more);
}

function auditHint() {
  return h('p', { class: 'muted' }, 'Changes made through the admin API, the dashboard and rook-cli.');
}
