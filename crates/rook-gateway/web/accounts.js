// Accounts: health with a live cooldown countdown, reset, enable/disable, add and edit.
import { api, get } from './api.js';
import { h, table, section, badge, duration, toast, num } from './dom.js';

const VENDORS = ['open_ai', 'anthropic', 'gemini', 'openrouter', 'groq', 'together', 'mistral', 'deepseek', 'custom'];

function modelsText(models) {
  return Object.entries(models || {}).map(([k, v]) => `${k}=${v}`).join('\n');
}

function parseModels(text) {
  const out = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [k, v] = line.split('=').map((s) => s.trim());
    out[k] = v || k;
  }
  return out;
}

function accountForm(existing, done) {
  const f = (name, attrs = {}) => h('input', { name, id: `acct-${name}`, ...attrs });
  const form = h('form', { class: 'edit', id: 'account-form' },
    h('h3', {}, existing ? `Edit ${existing.id}` : 'Add an account'),
    h('label', {}, 'Id', f('id', { value: existing?.id || '', required: true, readonly: !!existing })),
    h('label', {}, 'Vendor', h('select', { name: 'vendor', id: 'acct-vendor' },
      VENDORS.map((v) => h('option', { value: v, selected: existing?.vendor === v }, v)))),
    h('label', {}, 'Base URL (empty: the vendor default)', f('base_url', { value: existing?.base_url || '' })),
    h('label', {}, existing?.has_api_key ? 'API key (write-only; a key is set, empty keeps it)' : 'API key (write-only)',
      f('api_key', { type: 'password', autocomplete: 'off' })),
    h('label', {}, 'or API key variable', f('api_key_env', { value: existing?.api_key_env || '' })),
    h('label', {}, 'Weight', f('weight', { type: 'number', min: 1, max: 1000, value: existing?.weight ?? 1 })),
    h('label', {}, 'Priority', f('priority', { type: 'number', value: existing?.priority ?? 0 })),
    h('label', {}, 'Models (logical=upstream, one a line)',
      h('textarea', { name: 'models', id: 'acct-models', rows: 3 }, modelsText(existing?.models))),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, existing ? 'Save' : 'Add'),
      h('button', { type: 'button', onclick: () => done(false) }, 'Cancel')),
    h('p', { class: 'error', id: 'account-form-error', hidden: true }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const body = {
      vendor: d.get('vendor'),
      weight: Number(d.get('weight')),
      priority: Number(d.get('priority')),
      models: parseModels(d.get('models')),
    };
    if (d.get('base_url')) body.base_url = d.get('base_url');
    if (d.get('api_key_env')) body.api_key_env = d.get('api_key_env');
    if (d.get('api_key')) body.api_key = d.get('api_key');
    try {
      if (existing) await api('PATCH', `/api/accounts/${encodeURIComponent(existing.id)}`, body);
      else await api('POST', '/api/accounts', { id: d.get('id'), ...body });
      toast(existing ? 'Account saved.' : 'Account added.');
      done(true);
    } catch (err) {
      const p = form.querySelector('.error');
      p.textContent = err.message;
      p.hidden = false;
    }
  });
  return form;
}

export async function render(el) {
  let countdowns = [];
  let loadedAt = 0;
  const formBox = h('div', {});
  const edit = (acct) => formBox.replaceChildren(accountForm(acct, (changed) => {
    formBox.replaceChildren();
    if (changed) draw();
  }));
  const act = async (what, fn) => {
    try { await fn(); toast(what); await draw(); } catch (e) { toast(e.message, true); }
  };
  let drawn = 0;
  async function draw() {
    const ticket = ++drawn;
    const [{ accounts }, { accounts: health }, perAccount] = await Promise.all([
      get('/api/accounts'),
      get('/api/health/accounts'),
      get('/api/usage/timeseries?since=5m&bucket=1m&group_by=account'),
    ]);
    // A refresh that started earlier must not overwrite a later one.
    if (ticket !== drawn) return;
    const byId = new Map(health.map((x) => [x.id, x]));
    const rpm = new Map(perAccount.series.map((s) => [s.key, s.totals.requests / 5]));
    const next = [];
    const rows = accounts.map((a) => {
      const hl = byId.get(a.id) || {};
      const cooling = hl.cooldown_remaining_seconds > 0;
      const cd = h('span', { class: 'countdown' }, cooling ? duration(hl.cooldown_remaining_seconds) : '–');
      if (cooling) next.push([cd, hl.cooldown_remaining_seconds]);
      const readOnly = a.source === 'config';
      const state = cooling ? 'cooling' : (hl.status || 'unknown');
      const id = encodeURIComponent(a.id);
      return h('tr', { 'data-account': a.id, 'data-health': state },
        h('td', {}, a.id), h('td', {}, a.vendor),
        h('td', {}, a.enabled ? '' : badge('disabled', 'unknown'), badge(state)),
        h('td', {}, cd),
        h('td', {}, hl.last_error_class || '–'),
        h('td', {}, num(hl.consecutive_failures || 0)),
        h('td', { class: 'in-flight' }, num(hl.in_flight || 0)),
        h('td', {}, (rpm.get(a.id) || 0).toFixed(1)),
        h('td', {}, a.has_api_key ? 'yes' : 'no'),
        h('td', {}, readOnly ? h('span', { class: 'muted', title: 'Declared in the config file; change it there.' }, 'config file') : 'api'),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'reset', onclick: () => act(`Health of ${a.id} reset.`, () => api('POST', `/api/accounts/${id}/reset`, {})) }, 'Reset'),
          readOnly ? null : h('button', { type: 'button', onclick: () => act(`${a.id} ${a.enabled ? 'disabled' : 'enabled'}.`,
            () => api('PATCH', `/api/accounts/${id}`, { enabled: !a.enabled })) }, a.enabled ? 'Disable' : 'Enable'),
          readOnly ? null : h('button', { type: 'button', onclick: () => edit(a) }, 'Edit')));
    });
    el.replaceChildren(
      h('h1', {}, 'Accounts'),
      table(['Id', 'Vendor', 'Health', 'Cooldown left', 'Last error', 'Failures', 'In flight', 'Req/min', 'Key', 'Source', ''], rows, { id: 'accounts-table' }),
      h('p', { class: 'muted' }, 'Accounts declared in the config file are read-only here (reset works); API keys are write-only and never shown.'),
      h('div', { class: 'buttons' }, h('button', { type: 'button', id: 'add-account', onclick: () => edit(null) }, 'Add an account')),
      formBox);
    countdowns = next;
    loadedAt = performance.now();
  }
  await draw();
  const tick = setInterval(() => {
    const elapsed = (performance.now() - loadedAt) / 1000;
    for (const [node, left] of countdowns) node.textContent = left - elapsed > 0 ? duration(left - elapsed) : 'ending…';
  }, 1000);
  const refresh = setInterval(() => { if (!formBox.firstChild) draw().catch(() => {}); }, 15000);
  return () => { clearInterval(tick); clearInterval(refresh); };
}
