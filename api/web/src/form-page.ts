// The new-build form, generated from the catalog: root and components (versions, defaults, descriptions, cost
// estimates, clashes flagged as they are picked), the binary (uploaded at once, with progress), where it goes, how it
// starts, the image name. kiln's 400 problems come back next to the fields they name.
import { ApiError, api, problemOf, rawFetch, type BuildPreview, type Catalog, type CatalogComponent, type Problem, type Template } from './api.ts';
import { duration, estimateText, fill, h, bytes, shortId } from './dom.ts';
import { commandFor, coveringTemplate, installEstimate, parseCommand, parseEnv, pickProblems, suggestions, type Picked } from './form-rules.ts';
import { setTitle, type Page } from './page.ts';
import { stepText } from '../../../core/eta/step-words.ts';
import { uploadFile, type Uploaded } from './upload.ts';

interface Field {
  /** What the user knows the field as (the error summary links with it). */
  label: string;
  box: HTMLElement;
  problem: HTMLElement;
  server: HTMLElement;
  control: HTMLElement;
}

/** A labelled control with its hint, its client-side problem and kiln's problem, all tied to it for screen readers. */
function field(id: string, label: string, control: HTMLElement, hint?: string | Node): Field {
  const problem = h('p', { id: `${id}-problem`, class: 'problem', hidden: true });
  const server = h('p', { id: `${id}-server-problem`, class: 'problem server', hidden: true });
  control.id = id;
  control.setAttribute('aria-describedby', [hint ? `${id}-hint` : '', `${id}-problem`, `${id}-server-problem`].filter(Boolean).join(' '));
  const box = h('div', { class: 'field', id: `${id}-field` }, h('label', { for: id }, label), hint ? h('p', { id: `${id}-hint`, class: 'hint' }, hint) : null, control, problem, server);
  return { label, box, problem, server, control };
}

function say(el: HTMLElement, messages: string[]): void {
  el.hidden = messages.length === 0;
  fill(el, ...messages.flatMap((m, i) => (i ? [h('br'), m] : [m])));
}

function markInvalid(f: Field): void {
  const bad = !f.problem.hidden || !f.server.hidden;
  if (bad) f.control.setAttribute('aria-invalid', 'true');
  else f.control.removeAttribute('aria-invalid');
  f.box.classList.toggle('invalid', bad);
}

export async function formPage({ main, signal }: Page): Promise<void> {
  setTitle('New build');
  const [catalog, templates, me] = await Promise.all([
    api<Catalog>('/v1/components', { signal }),
    api<{ templates: Template[] }>('/v1/templates?status=ready', { signal }).then((r) => r.templates, () => [] as Template[]),
    api<{ project: string }>('/v1/me', { signal }),
  ]);

  // Root
  const rootSelect = h('select', { name: 'root' }, ...catalog.roots.map((r) => h('option', { value: r.name }, `${r.name} — ${r.description}`)));
  const root = field('root', 'Root image', rootSelect, 'The operating system every image starts from.');

  // Components
  const rows = new Map<string, { c: CatalogComponent; pick: HTMLInputElement; version: HTMLSelectElement; hint: HTMLElement; f: Field }>();
  const componentRows = catalog.components.map((c) => {
    const pick = h('input', { type: 'checkbox', id: `pick-${c.name}`, name: 'components', value: c.name });
    const version = h(
      'select',
      { id: `version-${c.name}` },
      ...c.versions.map((v) =>
        h('option', { value: v.version, selected: v.version === c.default }, `${v.version}${v.version === c.default ? ' (default)' : ''} · ~${duration(v.costEstimateSeconds)}`),
      ),
    );
    const hint = h('p', { id: `component-${c.name}-hint`, class: 'hint' });
    const problem = h('p', { id: `component-${c.name}-problem`, class: 'problem', hidden: true, role: 'alert' });
    const server = h('p', { id: `component-${c.name}-server-problem`, class: 'problem server', hidden: true });
    const described = `component-${c.name}-hint component-${c.name}-problem component-${c.name}-server-problem`;
    pick.setAttribute('aria-describedby', described);
    version.setAttribute('aria-describedby', described);
    const box = h(
      'div',
      { class: 'component', id: `component-${c.name}` },
      h('div', { class: 'component-pick' }, pick, h('label', { for: `pick-${c.name}` }, h('strong', {}, c.name)), h('span', { class: 'muted' }, c.description)),
      h('div', { class: 'component-version' }, h('label', { for: `version-${c.name}` }, 'Version', h('span', { class: 'sr-only' }, ` of ${c.name}`)), version),
      hint,
      problem,
      server,
    );
    rows.set(c.name, { c, pick, version, hint, f: { label: `Component ${c.name}`, box, problem, server, control: pick } });
    return box;
  });
  // What the catalog says installing the picks costs, and (from kiln) how long a build of them would take now.
  const installs = h('p', { id: 'installs', class: 'hint' });
  const estimate = h('p', { id: 'estimate', class: 'estimate', role: 'status', 'data-seconds': '' });
  // Which way the build would go (composed / template / install), asked of kiln as the picks change.
  const route = h('p', { id: 'route', class: 'route', role: 'status', 'data-route': '' });
  // The build's `"route": "install"`: for a person who suspects composition and wants the installed image to compare.
  const installBox = h('input', { type: 'checkbox', id: 'route-install', name: 'route', 'aria-describedby': 'route-install-hint' });
  installBox.addEventListener('change', () => void refreshRoute());
  const installPick = h(
    'div',
    { class: 'component-pick' },
    installBox,
    h('label', { for: 'route-install' }, 'Install, even where kiln could compose'),
    h('span', { id: 'route-install-hint', class: 'muted' }, 'each component installed step by step (FROM a template when one fits), to compare with a composed image'),
  );
  let asking: AbortController | undefined;
  async function refreshRoute(): Promise<void> {
    asking?.abort();
    const mine = (asking = new AbortController());
    const p = picked();
    const size = fileInput.files?.[0]?.size;
    const body = {
      root: rootSelect.value,
      components: p.map((x) => `${x.name}@${x.version}`),
      ...(size !== undefined ? { binaryBytes: size } : {}),
      ...(installBox.checked ? { route: 'install' } : {}),
    };
    try {
      const r = await api<BuildPreview>('/v1/builds/preview', { method: 'POST', body, signal: mine.signal });
      if (mine.signal.aborted) return;
      showEstimate(r);
      route.dataset.route = r.route;
      const head =
        r.route === 'composed'
          ? `Composed from prebuilt layers in seconds${r.verified ? '' : ' (its first build verifies the combination once)'}`
          : r.route === 'template'
            ? `Built FROM a ready template (${shortId(r.template!.id)}), installing only the rest`
            : 'Installed step by step';
      fill(route, h('strong', {}, head), r.secondsSaved > 0 ? ` — sparing about ${duration(r.secondsSaved)} of installing.` : '.', h('span', { class: 'why' }, ` ${r.reason}.`));
    } catch (err) {
      if (mine.signal.aborted) return;
      route.dataset.route = '';
      estimate.dataset.seconds = '';
      // Clashing picks are flagged next to the components; nothing to say here then.
      const clash = err instanceof ApiError && err.status === 400;
      fill(route, clash ? '' : 'kiln could not say which way this build would go.');
      fill(estimate, clash ? 'No estimate until the picks fit together (see the components flagged above).' : '');
    }
  }

  /** How long a build of the picks would take now, learned from this kiln's builds (else the catalog's estimates). */
  function showEstimate(r: BuildPreview): void {
    const e = r.estimate;
    estimate.dataset.seconds = e ? String(Math.round(e.seconds)) : '';
    if (!e) return fill(estimate, '');
    // The step that takes longest, so a person sees where the time goes.
    const longest = [...e.steps].sort((a, b) => b.seconds - a.seconds)[0];
    const where = longest && longest.seconds > 0.5 * e.runSeconds && e.steps.length > 1 ? ` Most of it: ${stepText(longest)}.` : '';
    fill(
      estimate,
      h('strong', {}, `Estimated time: ${estimateText(e)}`),
      ` from submitting to a pushed image${e.queueSeconds > 0 ? `, of which about ${duration(e.queueSeconds)} waiting in the queue` : ''}.${where}`,
      e.basis === 'history'
        ? ''
        : h('span', { class: 'hint' }, e.basis === 'catalog' ? " From the catalog's install estimates: nothing of it was measured here yet." : " Partly from the catalog's install estimates: some components were never measured here."),
    );
  }
  // The program
  const fileInput = h('input', { type: 'file', name: 'binary' });
  const progress = h('progress', { id: 'upload-progress', max: '1', value: '0', 'aria-label': 'Upload progress', hidden: true });
  const uploadBytes = h('p', { id: 'upload-bytes', class: 'hint', hidden: true });
  // Announced at the start and the end of an upload; the byte count in between is not a live region.
  const uploadStatus = h('p', { id: 'upload-status', class: 'hint', role: 'status' });
  const binary = field('binary', 'Binary', fileInput, 'Your program: a jar, an executable, a script. It is uploaded as soon as you choose it.');
  binary.problem.before(progress, uploadBytes, uploadStatus);
  const pathInput = h('input', { type: 'text', name: 'binaryPath', autocomplete: 'off', spellcheck: 'false', placeholder: '/opt/app/app.jar' });
  const binaryPath = field('binaryPath', 'Where it goes in the image', pathInput, 'An absolute path, e.g. /opt/app/app.jar or /usr/local/bin/app.');
  const entryInput = h('input', { type: 'text', name: 'entrypoint', autocomplete: 'off', spellcheck: 'false', placeholder: 'java -jar /opt/app/app.jar' });
  const entrypoint = field('entrypoint', 'Command that starts it', entryInput, 'What `docker run IMAGE` runs: a command line (quotes group words) or a JSON array. No shell is involved.');
  const envInput = h('textarea', { name: 'env', rows: '2', spellcheck: 'false', placeholder: 'JAVA_OPTS=-Xmx512m' });
  const env = field('env', 'Environment variables (optional)', envInput, 'KEY=value, one per line.');

  // The image
  const imageInput = h('input', { type: 'text', name: 'image', autocomplete: 'off', spellcheck: 'false', placeholder: 'team/app:1.0' });
  const image = field('image', 'Image name', imageInput, `repository:tag. kiln pushes it under project ${me.project}'s namespace in its registry.`);

  const summary = h('div', { id: 'form-problems', class: 'problem-summary', role: 'alert', tabindex: '-1', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start build');
  const form = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'form-title' },
    h('section', { class: 'card' }, h('h2', {}, '1. What your program needs'), root.box, h('fieldset', { id: 'components' }, h('legend', {}, 'Components'), ...componentRows), installs, estimate, route, installPick),
    h('section', { class: 'card' }, h('h2', {}, '2. Your program'), binary.box, binaryPath.box, entrypoint.box, env.box),
    h('section', { class: 'card' }, h('h2', {}, '3. The image'), image.box, h('div', { class: 'actions' }, submit)),
  );
  fill(
    main,
    h('h1', { id: 'form-title', tabindex: '-1' }, 'New build'),
    h('p', { class: 'lead' }, 'Pick the components your program needs, upload it, and kiln builds an image and pushes it to the registry. No Dockerfile needed.'),
    summary,
    form,
  );

  const picked = (): Picked[] => [...rows.values()].filter((r) => r.pick.checked).map((r) => ({ name: r.c.name, version: r.version.value }));

  function refreshComponents(): void {
    const problems = pickProblems(catalog, rootSelect.value, picked());
    for (const r of rows.values()) {
      const v = r.c.versions.find((x) => x.version === r.version.value);
      const needs = (v?.requires ?? []).map((q) => `needs ${q.component}${q.versions ? ` ${q.versions}` : ''}`);
      fill(r.hint, [v?.description ?? '', `about ${duration(v?.costEstimateSeconds)} to install on a real network`, ...needs].filter(Boolean).join(' · '));
      say(r.f.problem, r.pick.checked ? (problems.get(r.c.name) ?? []) : []);
      r.f.box.classList.toggle('picked', r.pick.checked);
      markInvalid(r.f);
    }
    const p = picked();
    const total = installEstimate(catalog, p);
    const cover = coveringTemplate(catalog, rootSelect.value, p, templates);
    fill(
      installs,
      p.length === 0
        ? 'No components: the image is the root plus your binary.'
        : `${p.map((x) => `${x.name} ${x.version}`).join(', ')}: about ${duration(total)} of installing on a real network, by the catalog.`,
      cover
        ? h(
            'span',
            { class: 'saves' },
            ` A ready template (${shortId(cover.template.id)}: ${cover.template.components.map((c) => c.key).join(' + ')}) already holds ${cover.template.components.length === 1 ? 'it' : 'them'}, sparing about ${duration(cover.seconds)}.`,
          )
        : null,
    );
    void refreshRoute();
  }
  rootSelect.addEventListener('change', refreshComponents);
  for (const r of rows.values()) {
    r.pick.addEventListener('change', () => {
      clearServer(r.f);
      refreshComponents();
    });
    r.version.addEventListener('change', () => {
      // Choosing a version means wanting the component.
      r.pick.checked = true;
      clearServer(r.f);
      refreshComponents();
    });
  }
  refreshComponents();

  // Upload at once; remember the result for submit.
  let uploaded: Uploaded | undefined;
  let uploading: Promise<Uploaded | undefined> | undefined;
  let uploadAbort: AbortController | undefined;
  const touched = new Set<string>();
  for (const [name, input] of [['binaryPath', pathInput], ['entrypoint', entryInput], ['image', imageInput]] as const) {
    input.addEventListener('input', () => touched.add(name));
  }
  pathInput.addEventListener('input', () => {
    if (!touched.has('entrypoint') && pathInput.value) entryInput.value = commandFor(pathInput.value.trim());
  });
  for (const f of [root, binaryPath, entrypoint, env, image]) {
    f.control.addEventListener('input', () => clearServer(f));
    f.control.addEventListener('change', () => clearServer(f));
  }

  fileInput.addEventListener('change', () => {
    uploadAbort?.abort();
    uploaded = undefined;
    uploading = undefined;
    clearServer(binary);
    const file = fileInput.files?.[0];
    say(binary.problem, []);
    markInvalid(binary);
    if (!file) {
      progress.hidden = true;
      uploadBytes.hidden = true;
      fill(uploadStatus);
      return;
    }
    // Its size prices copying and pushing it.
    void refreshRoute();
    const s = suggestions(file.name);
    if (!touched.has('binaryPath')) pathInput.value = s.binaryPath;
    if (!touched.has('entrypoint')) entryInput.value = commandFor(pathInput.value.trim() || s.binaryPath);
    if (!touched.has('image')) imageInput.value = s.image;
    const controller = new AbortController();
    uploadAbort = controller;
    signal.addEventListener('abort', () => controller.abort(), { once: true });
    progress.hidden = false;
    uploadBytes.hidden = false;
    fill(uploadBytes);
    progress.value = 0;
    fill(uploadStatus, `Uploading ${file.name} (${bytes(file.size)})…`);
    uploading = uploadFile(
      file,
      (sent, total) => {
        progress.value = total ? sent / total : 0;
        fill(uploadBytes, `${bytes(sent)} of ${bytes(total)} (${Math.floor((total ? sent / total : 0) * 100)}%)`);
      },
      controller.signal,
    ).then(
      (u) => {
        progress.value = 1;
        uploadBytes.hidden = true;
        uploaded = u;
        fill(uploadStatus, `Uploaded ${file.name} (${bytes(u.size)}, sha256 ${u.sha256.slice(0, 12)}…).`);
        return u;
      },
      (err: unknown) => {
        if (controller.signal.aborted) return undefined;
        progress.hidden = true;
        uploadBytes.hidden = true;
        fill(uploadStatus);
        const status = err instanceof ApiError && err.status === 413 ? 'The file is larger than this kiln accepts. ' : '';
        say(binary.problem, [`${status}Upload failed: ${(err as Error).message}`]);
        markInvalid(binary);
        return undefined;
      },
    );
  });

  function clearServer(f: Field): void {
    say(f.server, []);
    markInvalid(f);
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    for (const f of [root, binary, binaryPath, entrypoint, env, image, ...[...rows.values()].map((r) => r.f)]) clearServer(f);
    summary.hidden = true;
    const components = picked();
    const cmd = parseCommand(entryInput.value);
    say(entrypoint.problem, 'error' in cmd ? [cmd.error] : []);
    markInvalid(entrypoint);
    const envs = parseEnv(envInput.value);
    say(env.problem, 'error' in envs ? [envs.error] : []);
    markInvalid(env);
    submit.disabled = true;
    try {
      if (uploading && !uploaded) {
        submit.textContent = 'Waiting for the upload…';
        await uploading;
      }
      if (!uploaded && !uploading) {
        say(binary.problem, ['Choose the file to put in the image.']);
        markInvalid(binary);
      }
      submit.textContent = 'Starting…';
      // Sent even with problems seen here: kiln answers every problem at once, and is the one that decides.
      const body = {
        root: rootSelect.value,
        components: components.map((p) => `${p.name}@${p.version}`),
        uploadId: uploaded?.id ?? '',
        binaryPath: pathInput.value.trim(),
        entrypoint: 'argv' in cmd ? cmd.argv : [],
        ...('env' in envs && Object.keys(envs.env).length ? { env: envs.env } : {}),
        image: imageInput.value.trim(),
        ...(installBox.checked ? { route: 'install' } : {}),
      };
      const res = await rawFetch('/v1/builds', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
      if (res.status === 202) {
        const { id } = (await res.json()) as { id: string };
        location.hash = `#/builds/${encodeURIComponent(id)}`;
        return;
      }
      showServerProblems(res.status, await problemOf(res), components);
    } catch (err) {
      if (signal.aborted) return;
      showSummary(`The build could not be started: ${(err as Error).message}`, []);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Start build';
    }
  });

  /** Each problem goes next to the field it names; the summary links to them. */
  function showServerProblems(status: number, problem: Problem | undefined, components: Picked[]): void {
    const placed: { message: string; target: Field | undefined; field: string }[] = [];
    const byField = new Map<Field, string[]>();
    for (const p of problem?.problems ?? []) {
      const target = fieldFor(p.field, components);
      placed.push({ message: p.message, target, field: p.field });
      if (target) byField.set(target, [...(byField.get(target) ?? []), p.message]);
    }
    for (const [f, messages] of byField) {
      say(f.server, messages.map((m) => `kiln: ${m}`));
      markInvalid(f);
    }
    const title = status === 400 ? `kiln refused the build: ${placed.length} problem${placed.length === 1 ? '' : 's'}.` : `kiln refused the build (HTTP ${status}): ${problem?.detail ?? ''}`;
    showSummary(title, placed);
  }

  function fieldFor(name: string, components: Picked[]): Field | undefined {
    const m = /^components(?:\[(\d+)\])?/.exec(name);
    if (m) {
      const p = m[1] !== undefined ? components[Number(m[1])] : undefined;
      return p ? rows.get(p.name)?.f : undefined;
    }
    const head = name.split(/[.[]/)[0];
    return ({ root, uploadId: binary, binaryPath, entrypoint, cmd: entrypoint, env, image } as Record<string, Field>)[head ?? ''];
  }

  function showSummary(title: string, items: { message: string; target: Field | undefined; field: string }[]): void {
    fill(
      summary,
      h('h2', {}, title),
      items.length
        ? h(
            'ul',
            {},
            ...items.map((i) =>
              h('li', {}, i.target ? h('a', { href: `#${i.target.control.id}`, onclick: (ev: Event) => (ev.preventDefault(), i.target!.control.focus()) }, i.target.label) : h('code', {}, i.field), `: ${i.message}`),
            ),
          )
        : null,
    );
    summary.hidden = false;
    summary.focus();
  }
}
