// The dashboard shell: a page per location hash, each a module with `render(main)`
// that may return a function to stop its timers.
import { signOut } from './api.js';
import { h, toast } from './dom.js';

const PAGES = {
  overview: () => import('./overview.js'),
  accounts: () => import('./accounts.js'),
  routing: () => import('./routing.js'),
  usage: () => import('./usage.js'),
  live: () => import('./live.js'),
  audit: () => import('./audit.js'),
};

let stop = null;

async function show() {
  const name = location.hash.slice(1).split('?')[0] || 'overview';
  const load = PAGES[name] || PAGES.overview;
  if (stop) { stop(); stop = null; }
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#${name}`);
  }
  const main = document.getElementById('main');
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  main.dataset.page = name;
  main.dataset.ready = 'false';
  try {
    const page = await load();
    const fresh = h('div', { class: 'page' });
    stop = (await page.render(fresh)) || null;
    main.replaceChildren(fresh);
  } catch (e) {
    main.replaceChildren(h('p', { class: 'error' }, `Could not load this page: ${e.message}`));
  }
  main.dataset.ready = 'true';
}

document.getElementById('logout').addEventListener('click', () => signOut().catch((e) => toast(e.message, true)));
window.addEventListener('hashchange', show);
show();
