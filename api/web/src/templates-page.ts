// Templates: what each one holds, how often it was used, what it saved, its size and status — and two charts from
// GET /v1/stats/daily: time saved per day, and how long builds take with and without a template.
import { api, type DailyBuildStats, type Template, type TemplateStats } from './api.ts';
import { bytes, duration, fill, h, shortId, when } from './dom.ts';
import { setTitle, type Page } from './page.ts';
import { dataTable, durationPlot, savedPlot } from './plots.ts';

const windows = [7, 30, 90];
const statusOrder = ['ready', 'building', 'stale', 'retired', 'failed'];

export async function templatesPage({ main, signal, params }: Page): Promise<void> {
  setTitle('Templates');
  const days = windows.includes(Number(params.get('days'))) ? Number(params.get('days')) : 30;
  const [{ templates }, stats, daily] = await Promise.all([
    api<{ templates: Template[] }>('/v1/templates', { signal }),
    api<TemplateStats>(`/v1/stats?windowDays=${days}`, { signal }),
    api<{ days: DailyBuildStats[] }>(`/v1/stats/daily?days=${days}`, { signal }),
  ]);

  const range = h('select', { id: 'days' }, ...windows.map((d) => h('option', { value: String(d), selected: d === days }, `last ${d} days`)));
  range.addEventListener('change', () => {
    location.hash = `#/templates?days=${range.value}`;
  });
  const savedBox = h('div', { class: 'plot', id: 'plot-saved', role: 'img', 'aria-label': `Bar chart of time saved per day over the last ${days} days; the numbers are in the table below it` });
  const durationBox = h('div', { class: 'plot', id: 'plot-duration', role: 'img', 'aria-label': `Line chart of median build duration per day with and without a template; the numbers are in the table below it` });
  const active = daily.days.filter((d) => d.builds > 0);

  const observed = new Map(stats.perTemplate.map((p) => [p.templateId, p]));
  const sorted = [...templates].sort((a, b) => statusOrder.indexOf(a.status) - statusOrder.indexOf(b.status) || b.secondsSaved - a.secondsSaved);
  fill(
    main,
    h('h1', { tabindex: '-1' }, 'Templates'),
    h(
      'p',
      { class: 'lead' },
      'kiln prebuilds frequent, expensive component combinations as template images; builds that need them start from a template and install only the rest.',
    ),
    h('div', { class: 'toolbar' }, h('label', { for: 'days' }, 'Period'), range),
    h(
      'dl',
      { class: 'stats', id: 'stats-summary' },
      h('div', {}, h('dt', {}, 'Builds'), h('dd', {}, String(stats.builds))),
      h('div', {}, h('dt', {}, 'From a template'), h('dd', {}, `${stats.buildsWithTemplate} (${Math.round(stats.hitRate * 100)}%)`)),
      h('div', {}, h('dt', {}, 'Install time saved, measured'), h('dd', { id: 'total-saved' }, duration(stats.secondsSavedMeasured))),
      h('div', {}, h('dt', {}, 'Estimated, not measured'), h('dd', { id: 'total-saved-estimated' }, duration(stats.secondsSavedEstimated))),
      h('div', {}, h('dt', {}, 'Composed from layers'), h('dd', { id: 'composed-builds' }, String(stats.buildsComposed))),
      savedFact('composed-saved', 'Install time composition avoided', stats.secondsSavedComposed, stats.secondsSavedComposedEstimated),
      savedFact('cache-saved', 'Install time the layer cache spared', stats.secondsSavedCache, stats.secondsSavedCacheEstimated),
    ),
    h(
      'p',
      { class: 'hint' },
      'Measured savings are priced by install times seen on this installation; estimated ones by the catalog, for components that never installed uncached here. Observed build durations with and without each template are in the list below.',
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'saved-title' },
      h('h2', { id: 'saved-title' }, 'Time saved per day'),
      h('p', { class: 'hint' }, 'Install time spared by templates, by composition and by the engine’s layer cache, stacked.'),
      savedBox,
      dataTable(
        'saved-data',
        'Install time saved per day (UTC): by templates, by composition, by the layer cache',
        ['Day', 'Builds', 'From a template', 'Time saved', 'Composed', 'Install time avoided', 'Layer cache spared'],
        active.map((d) => [d.day, d.builds, d.buildsWithTemplate, duration(d.secondsSaved), d.buildsComposed, duration(d.secondsSavedComposed), duration(d.secondsSavedCache)]),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'duration-title' },
      h('h2', { id: 'duration-title' }, 'Build duration, with and without a template'),
      h('p', { class: 'hint' }, 'Median time from start to pushed image, per day.'),
      durationBox,
      dataTable(
        'duration-data',
        'Median build duration per day (UTC)',
        ['Day', 'With a template', 'Without'],
        active.map((d) => [d.day, duration(d.medianSecondsWithTemplate), duration(d.medianSecondsWithout)]),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'list-title' },
      h('h2', { id: 'list-title' }, 'Templates'),
      sorted.length === 0
        ? h('p', { class: 'hint' }, 'No templates yet: the analyzer makes them once combinations repeat in the build history.')
        : h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { id: 'templates' },
              h('caption', { class: 'sr-only' }, 'Templates with their components, use and savings'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ...['Template', 'Components', 'Status', 'Hits', 'Saved, measured', 'Saved, estimated', 'Build with it (mean)', 'Without it (mean)', 'Size', 'Built in', 'Last used'].map((c, i) =>
                    h('th', { scope: 'col', class: i >= 3 && i <= 9 ? 'num' : '' }, c),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                ...sorted.map((t) =>
                  h(
                    'tr',
                    { id: `template-${t.id}` },
                    h('th', { scope: 'row' }, h('code', { title: t.imageRef }, shortId(t.id))),
                    h('td', {}, `${t.root}: ${t.components.map((c) => c.key).join(' + ')}`),
                    h('td', {}, h('span', { class: `badge status-${t.status}` }, t.status), t.error ? h('span', { class: 'hint' }, ` ${t.error}`) : null),
                    h('td', { class: 'num' }, String(t.hits)),
                    h('td', { class: 'num' }, duration(t.secondsSavedMeasured)),
                    h('td', { class: 'num estimated', title: "priced by the catalog's estimate, not measured here" }, t.secondsSavedEstimated > 0 ? `≈ ${duration(t.secondsSavedEstimated)}` : '—'),
                    h('td', { class: 'num' }, duration(observed.get(t.id)?.meanSecondsWith ?? null)),
                    h('td', { class: 'num' }, duration(observed.get(t.id)?.meanSecondsWithout ?? null)),
                    h('td', { class: 'num' }, bytes(t.sizeBytes)),
                    h('td', { class: 'num' }, duration(t.buildSeconds)),
                    h('td', {}, when(t.lastHitAt)),
                  ),
                ),
              ),
            ),
          ),
    ),
  );
  savedPlot(savedBox, daily.days, signal);
  durationPlot(durationBox, daily.days, signal);
}

/** A saving with the part of it priced by the catalog's estimate. */
function savedFact(id: string, label: string, seconds: number, estimated: number): HTMLElement {
  return h('div', {}, h('dt', {}, label), h('dd', { id }, duration(seconds), estimated > 0 ? h('span', { class: 'hint' }, ` (≈ ${duration(estimated)} of it estimated)`) : null));
}
