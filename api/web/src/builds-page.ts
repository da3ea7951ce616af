// The project's builds, newest first, filtered by status (kept in the address, so a filtered list can be shared).
import { api, endedStatuses, type BuildSummary } from './api.ts';
import { duration, elapsed, fill, h, shortId, statusBadge, when } from './dom.ts';
import { setTitle, type Page } from './page.ts';

const statuses = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

export async function buildsPage({ main, signal, params }: Page): Promise<void> {
  setTitle('Builds');
  const status = statuses.includes(params.get('status') ?? '') ? params.get('status')! : '';
  const filter = h('select', { id: 'status-filter', name: 'status' }, h('option', { value: '' }, 'All'), ...statuses.map((s) => h('option', { value: s, selected: s === status }, s)));
  filter.addEventListener('change', () => {
    location.hash = filter.value ? `#/builds?status=${filter.value}` : '#/builds';
  });
  const body = h('tbody');
  const empty = h('p', { class: 'hint', hidden: true });
  fill(
    main,
    h('h1', { tabindex: '-1' }, 'Builds'),
    h('div', { class: 'toolbar' }, h('label', { for: 'status-filter' }, 'Status'), filter, h('a', { class: 'button', href: '#/' }, 'New build')),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'builds' },
        h('caption', { class: 'sr-only' }, status ? `Builds that are ${status}` : 'All builds'),
        h(
          'thead',
          {},
          h('tr', {}, ...['Build', 'Status', 'Image', 'Queued', 'Took'].map((c) => h('th', { scope: 'col', class: c === 'Took' ? 'num' : '' }, c))),
        ),
        body,
      ),
    ),
    empty,
  );

  async function load(): Promise<boolean> {
    const { items } = await api<{ items: BuildSummary[] }>(`/v1/builds?limit=100${status ? `&status=${status}` : ''}`, { signal });
    fill(
      body,
      ...items.map((b) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, h('a', { href: `#/builds/${b.id}` }, h('code', {}, shortId(b.id)))),
          h('td', {}, statusBadge(b.status)),
          h('td', { class: 'wrap' }, h('code', {}, b.imageRef)),
          h('td', {}, when(b.queuedAt)),
          h('td', { class: 'num' }, duration(elapsed(b.startedAt, b.finishedAt))),
        ),
      ),
    );
    empty.hidden = items.length > 0;
    fill(empty, status ? `No ${status} builds.` : 'No builds yet. ', status ? null : h('a', { href: '#/' }, 'Start one.'));
    return items.some((b) => !endedStatuses.includes(b.status));
  }
  let active = await load();
  // While something is queued or running, the list keeps itself current.
  void (async () => {
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, active ? 2000 : 10_000));
      if (signal.aborted) return;
      active = await load().catch(() => active);
    }
  })();
}
