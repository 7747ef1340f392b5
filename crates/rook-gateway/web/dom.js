// Small DOM helpers: elements built with textContent only (never innerHTML), formatting.

/** `h('td', {class: 'x', onclick: f}, 'text', child)` */
export function h(tag, attrs = {}, ...children) {
  const ns = attrs.svg ? 'http://www.w3.org/2000/svg' : null;
  const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'svg' || v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value' && !ns) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows));
}

export function toast(message, error = false) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = error ? 'error' : '';
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, error ? 8000 : 3000);
}

export const num = (n) => (n ?? 0).toLocaleString('en-US');
export const usd = (n) => `$${(n ?? 0).toFixed((n ?? 0) < 1 ? 4 : 2)}`;
export const ms = (n) => (n === null || n === undefined ? '–' : `${Math.round(n)} ms`);
export const pct = (n) => `${(100 * (n || 0)).toFixed(1)}%`;

export function duration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function time(iso) {
  if (!iso) return '–';
  const d = typeof iso === 'number' ? new Date(iso) : new Date(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A status word as a coloured badge. */
export function badge(word, kind = word) {
  return h('span', { class: `badge ${kind}` }, word);
}

/** A page section with a title. */
export function section(title, ...children) {
  return h('section', {}, h('h2', {}, title), ...children);
}
