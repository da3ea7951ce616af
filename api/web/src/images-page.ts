// Images: what the project pushed, newest first, filtered by repository, tag, component, template, binary, status and
// date (the filters live in the address, so a filtered list can be shared), paged, and deleted one by one.
import { api, ApiError, type Image, type Template } from './api.ts';
import { copyButton, fill, h, shortId, statusBadge, when } from './dom.ts';
import { setTitle, type Page } from './page.ts';

const statuses = ['current', 'superseded', 'deleted'];

interface FilterField {
  name: string;
  label: string;
  hint?: string;
  type?: 'text' | 'date';
}

const fields: FilterField[] = [
  { name: 'repository', label: 'Repository', hint: 'e.g. team/app' },
  { name: 'tag', label: 'Tag' },
  { name: 'component', label: 'Component', hint: 'jdk, or jdk@17' },
  { name: 'sha256', label: 'Binary sha256' },
  { name: 'from', label: 'Pushed from', type: 'date' },
  { name: 'to', label: 'Pushed until', type: 'date' },
];

/** A day in the browser's time zone, as the instant it starts (the `to` day is included: it ends at the next one). */
const dayStart = (day: string, plusDays = 0) => {
  const d = new Date(`${day}T00:00:00`);
  d.setDate(d.getDate() + plusDays);
  return d.toISOString();
};

/** The API query for the filters in the address. */
function apiQuery(params: URLSearchParams): URLSearchParams {
  const q = new URLSearchParams();
  for (const name of ['repository', 'tag', 'component', 'sha256', 'template', 'status', 'cursor']) {
    const v = params.get(name)?.trim();
    if (v) q.set(name, v);
  }
  if (params.get('from')) q.set('since', dayStart(params.get('from')!));
  if (params.get('to')) q.set('until', dayStart(params.get('to')!, 1));
  q.set('limit', '25');
  return q;
}

export async function imagesPage({ main, signal, params }: Page): Promise<void> {
  setTitle('Images');
  const { templates } = await api<{ templates: Template[] }>('/v1/templates', { signal });
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const field = (f: FilterField) => {
    const input = h('input', { id: `filter-${f.name}`, name: f.name, type: f.type ?? 'text', value: params.get(f.name) ?? '', spellcheck: 'false', ...(f.hint ? { placeholder: f.hint } : {}) });
    inputs.set(f.name, input);
    return h('div', { class: 'field', id: `field-${f.name}` }, h('label', { for: input.id }, f.label), input);
  };
  const select = (name: string, label: string, options: [string, string][]) => {
    const el = h('select', { id: `filter-${name}`, name }, ...options.map(([value, text]) => h('option', { value, selected: (params.get(name) ?? '') === value }, text)));
    inputs.set(name, el);
    return h('div', { class: 'field', id: `field-${name}` }, h('label', { for: el.id }, label), el);
  };
  const form = h(
    'form',
    { class: 'filters', id: 'image-filters', role: 'search', 'aria-label': 'Filter images' },
    ...fields.slice(0, 4).map(field),
    select('template', 'Built from template', [['', 'Any'], ...templates.map((t): [string, string] => [t.id, `${shortId(t.id)} · ${t.components.map((c) => c.key).join(' + ')}`])]),
    select('status', 'Status', [['', 'Any'], ...statuses.map((s): [string, string] => [s, s])]),
    ...fields.slice(4).map(field),
    h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Filter'), h('a', { class: 'button', href: '#/images' }, 'Clear')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [name, input] of inputs) if (input.value.trim()) next.set(name, input.value.trim());
    location.hash = `#/images${next.size ? `?${next}` : ''}`;
  });

  const message = h('div', { id: 'images-message', role: 'alert' });
  const body = h('tbody');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const empty = h('p', { class: 'hint', hidden: true }, 'No images match these filters.');
  fill(
    main,
    h('h1', { tabindex: '-1' }, 'Images'),
    h('p', { class: 'lead' }, 'Every image kiln pushed for this project, with what it is made of. Deleting one deletes its manifest in the registry.'),
    form,
    message,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id: 'images' },
        h('caption', { class: 'sr-only' }, 'Images, newest first'),
        h('thead', {}, h('tr', {}, ...['Image', 'Status', 'Components', 'Binary', 'Template', 'Pushed', 'Digest', ''].map((c) => h('th', { scope: 'col' }, c)))),
        body,
      ),
    ),
    empty,
    pager,
  );

  const showProblems = (err: unknown) => {
    for (const f of form.querySelectorAll('.field')) f.classList.remove('invalid');
    const problem = err instanceof ApiError ? err.problem : undefined;
    const named = (problem?.problems ?? []).map((p) => {
      const name = p.field === 'since' ? 'from' : p.field === 'until' ? 'to' : p.field;
      form.querySelector(`#field-${name}`)?.classList.add('invalid');
      return `${inputs.has(name) ? form.querySelector(`label[for="filter-${name}"]`)?.textContent ?? name : name}: ${p.message}`;
    });
    const headline = named.length ? 'kiln cannot list images with these filters:' : (err as Error).message;
    fill(message, h('div', { class: 'problem-summary' }, h('p', {}, headline), named.length ? h('ul', {}, ...named.map((n) => h('li', {}, n))) : null));
  };

  async function load(): Promise<void> {
    let page: { items: Image[]; nextCursor?: string };
    try {
      page = await api<{ items: Image[]; nextCursor?: string }>(`/v1/images?${apiQuery(params)}`, { signal });
    } catch (err) {
      if (signal.aborted) return;
      fill(body);
      return showProblems(err);
    }
    fill(body, ...page.items.map(row));
    empty.hidden = page.items.length > 0;
    const here = new URLSearchParams(params);
    here.delete('cursor');
    const next = new URLSearchParams(here);
    if (page.nextCursor) next.set('cursor', page.nextCursor);
    fill(
      pager,
      params.get('cursor') ? h('a', { href: `#/images${here.size ? `?${here}` : ''}` }, 'First page') : null,
      page.nextCursor ? h('a', { href: `#/images?${next}`, rel: 'next' }, 'Next page') : null,
    );
  }

  function row(i: Image): HTMLTableRowElement {
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${i.repository}:${i.tag}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!confirm(`Delete ${i.imageRef} from the registry? Pulling it will no longer work.`)) return;
      remove.disabled = true;
      try {
        await api<Image>(`/v1/images/${i.id}`, { method: 'DELETE', signal });
        fill(message, h('p', { class: 'hint' }, `Deleted ${i.repository}:${i.tag}.`));
        await load();
      } catch (err) {
        remove.disabled = false;
        fill(message, h('p', { class: 'problem' }, `${i.repository}:${i.tag} was not deleted: ${(err as Error).message}`));
      }
    });
    return h(
      'tr',
      { 'data-image': i.id },
      h('th', { scope: 'row', class: 'wrap' }, h('code', {}, `${i.repository}:${i.tag}`)),
      h('td', {}, statusBadge(i.status)),
      h('td', { class: 'wrap' }, i.components.join(', ') || '—'),
      h('td', {}, h('code', { title: i.uploadSha256 }, i.uploadSha256.slice(0, 12))),
      h('td', {}, i.templateId ? h('code', { title: i.templateId }, shortId(i.templateId)) : '—'),
      h('td', {}, when(i.pushedAt)),
      h('td', {}, h('code', { title: i.digest }, i.digest.replace(/^sha256:/, '').slice(0, 12)), ' ', copyButton(() => `${i.imageRef.replace(/:[^:/]+$/, '')}@${i.digest}`, `the digest reference of ${i.repository}:${i.tag}`)),
      h('td', {}, i.status === 'deleted' ? null : remove),
    );
  }

  await load();
}
