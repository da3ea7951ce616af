// The web form's shell: the project token (asked once, kept in this browser), the header, and hash routes to pages.
import './style.css';
import { api, tokenStore, whenUnauthorized } from './api.ts';
import { buildPage } from './build-page.ts';
import { buildsPage } from './builds-page.ts';
import { fill, h } from './dom.ts';
import { formPage } from './form-page.ts';
import { imagesPage } from './images-page.ts';
import { setTitle, type Page } from './page.ts';
import { templatesPage } from './templates-page.ts';

const main = document.getElementById('main')!;
const who = document.getElementById('who')!;
let current: AbortController | undefined;

type Route = { nav: string; run: (page: Page, ...args: string[]) => Promise<void> };

function route(hash: string): { route: Route; args: string[]; params: URLSearchParams } | undefined {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  if (path === '' || path === '/') return { route: { nav: 'form', run: formPage }, args: [], params };
  if (path === '/builds') return { route: { nav: 'builds', run: buildsPage }, args: [], params };
  const build = /^\/builds\/([^/]+)$/.exec(path);
  if (build) return { route: { nav: 'builds', run: buildPage }, args: [decodeURIComponent(build[1]!)], params };
  if (path === '/templates') return { route: { nav: 'templates', run: templatesPage }, args: [], params };
  if (path === '/images') return { route: { nav: 'images', run: imagesPage }, args: [], params };
  return undefined;
}

async function render(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const found = route(location.hash);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    if (a.dataset.nav === found?.route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!tokenStore.get()) return tokenPage();
  fill(main);
  if (!found) {
    setTitle('Not found');
    fill(main, h('h1', { tabindex: '-1' }, 'Nothing here'), h('p', {}, h('a', { href: '#/' }, 'Start a new build')));
    return focusHeading();
  }
  try {
    // A page draws itself and returns; what it follows afterwards (a log, a status) stops with the signal.
    await found.route.run({ main, signal: controller.signal, params: found.params }, ...found.args);
    focusHeading();
  } catch (err) {
    if (controller.signal.aborted) return;
    fill(main, h('h1', { tabindex: '-1' }, 'Something went wrong'), h('p', { role: 'alert' }, (err as Error).message));
  }
}

/** After a navigation (not the first load), focus goes to the new page's heading, where keyboard and screen reader users expect it. */
let navigated = false;
function focusHeading(): void {
  if (navigated) main.querySelector<HTMLElement>('h1')?.focus();
}

function tokenPage(message?: string): void {
  current?.abort();
  setTitle('Project token');
  fill(who);
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-hint token-error' });
  const error = h('p', { id: 'token-error', class: 'problem', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { class: 'card narrow' },
    h('h1', { tabindex: '-1' }, 'Your project token'),
    h('p', { id: 'token-hint', class: 'hint' }, 'kiln needs a project token (kiln_…) to build in your project. It is kept in this browser only; “Forget token” removes it.'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Project token'), input),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Save token'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    tokenStore.set(input.value.trim());
    try {
      await showWho();
      await render();
    } catch (err) {
      tokenStore.clear();
      error.textContent = (err as Error).message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  });
  fill(main, form);
  input.focus();
}

async function showWho(): Promise<void> {
  const me = await api<{ project: string; admin: boolean }>('/v1/me');
  const forget = h('button', { type: 'button', class: 'link' }, 'Forget token');
  forget.addEventListener('click', () => {
    tokenStore.clear();
    tokenPage('The token was removed from this browser.');
  });
  fill(who, h('span', {}, 'Project ', h('strong', { id: 'project-name' }, me.project), me.admin ? ' (admin)' : ''), ' ', forget);
}

whenUnauthorized((message) => {
  tokenStore.clear();
  tokenPage(`${message}. Enter a valid project token.`);
});

document.querySelector('.skip-link')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => {
  navigated = true;
  void render();
});
if (tokenStore.get()) void showWho().catch(() => undefined);
void render();
