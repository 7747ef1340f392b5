// Pools and routes: view, create, edit and delete the API-managed ones; the API's
// validation messages are shown as they come.
import { api, get } from './api.js';
import { h, table, section, toast } from './dom.js';

const STRATEGIES = ['priority', 'failover', 'round_robin', 'weighted', 'least_busy'];
const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

function errorLine(id) {
  return h('p', { class: 'error', id, hidden: true });
}

function showError(p, e) {
  p.textContent = e.message;
  p.hidden = false;
}

export async function render(el) {
  let drawn = 0;
  async function draw() {
    const ticket = ++drawn;
    const [{ pools }, { routes }, { accounts }] = await Promise.all([
      get('/api/pools'), get('/api/routes'), get('/api/accounts'),
    ]);
    if (ticket !== drawn) return;
    const weight = new Map(accounts.map((a) => [a.id, a.weight]));
    const act = async (what, fn, err) => {
      try { await fn(); toast(what); await draw(); } catch (e) { if (err) showError(err, e); else toast(e.message, true); }
    };

    const poolErr = errorLine('pool-form-error');
    const poolForm = h('form', { class: 'edit', id: 'pool-form' },
      h('h3', {}, 'Add or change a pool'),
      h('label', {}, 'Id', h('input', { name: 'id', required: true })),
      h('label', {}, 'Strategy', h('select', { name: 'strategy' }, STRATEGIES.map((s) => h('option', { value: s }, s)))),
      h('label', {}, 'Members, in order (comma-separated account ids)', h('input', { name: 'members', required: true })),
      h('label', {}, 'Fallback pool', h('input', { name: 'fallback_pool' })),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Save pool')), poolErr);
    poolForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const d = new FormData(poolForm);
      const id = d.get('id').trim();
      const body = { strategy: d.get('strategy'), members: list(d.get('members')), fallback_pool: d.get('fallback_pool').trim() || null };
      const exists = pools.some((p) => p.id === id);
      act(`Pool ${id} saved.`, () => (exists
        ? api('PUT', `/api/pools/${encodeURIComponent(id)}`, body)
        : api('POST', '/api/pools', { id, ...body })), poolErr);
    });
    const fillPool = (p) => {
      poolForm.elements.id.value = p.id;
      poolForm.elements.strategy.value = p.strategy;
      poolForm.elements.members.value = p.members.join(', ');
      poolForm.elements.fallback_pool.value = p.fallback_pool || '';
    };

    const routeErr = errorLine('route-form-error');
    const routeForm = h('form', { class: 'edit', id: 'route-form' },
      h('h3', {}, 'Add or change a route'),
      h('label', {}, 'Model', h('input', { name: 'model', id: 'route-model', required: true })),
      h('label', {}, 'Pool', h('select', { name: 'pool', id: 'route-pool' }, pools.map((p) => h('option', { value: p.id }, p.id)))),
      h('label', {}, 'Fallback route', h('input', { name: 'fallback_route' })),
      h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'route-save' }, 'Save route')), routeErr);
    routeForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const d = new FormData(routeForm);
      const model = d.get('model').trim();
      const body = { pool: d.get('pool'), fallback_route: d.get('fallback_route').trim() || null };
      const exists = routes.some((r) => r.model === model);
      act(`Route ${model} saved.`, () => (exists
        ? api('PUT', `/api/routes/${encodeURIComponent(model)}`, body)
        : api('POST', '/api/routes', { model, ...body })), routeErr);
    });

    const poolRows = pools.map((p) => h('tr', { 'data-pool': p.id },
      h('td', {}, p.id), h('td', {}, p.strategy),
      h('td', {}, p.members.map((m) => `${m} (weight ${weight.get(m) ?? '?'})`).join(', ')),
      h('td', {}, p.fallback_pool || '–'), h('td', {}, p.source),
      h('td', { class: 'actions' }, p.source === 'config' ? h('span', { class: 'muted' }, 'read-only') : [
        h('button', { type: 'button', onclick: () => fillPool(p) }, 'Edit'),
        h('button', { type: 'button', onclick: () => act(`Pool ${p.id} deleted.`, () => api('DELETE', `/api/pools/${encodeURIComponent(p.id)}`)) }, 'Delete')])));
    const routeRows = routes.map((r) => h('tr', { 'data-route': r.model },
      h('td', {}, r.model), h('td', {}, r.pool), h('td', {}, r.fallback_route || '–'), h('td', {}, r.source),
      h('td', { class: 'actions' }, r.source === 'config' ? h('span', { class: 'muted' }, 'read-only') :
        h('button', { type: 'button', onclick: () => act(`Route ${r.model} deleted.`, () => api('DELETE', `/api/routes/${encodeURIComponent(r.model)}`)) }, 'Delete'))));
    el.replaceChildren(
      h('h1', {}, 'Pools and routes'),
      h('p', { class: 'muted' }, 'Entries declared in the config file are read-only here; weights are set on accounts.'),
      section('Pools', table(['Id', 'Strategy', 'Members (in order)', 'Fallback', 'Source', ''], poolRows, { id: 'pools-table' }), poolForm),
      section('Routes', table(['Model', 'Pool', 'Fallback route', 'Source', ''], routeRows, { id: 'routes-table' }), routeForm));
  }
  await draw();
}
