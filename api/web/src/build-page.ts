// One build: status (and queue position), the live log, the plan with time per step, the pushed image with its
// digest, and cancel.
import { ApiError, api, endedStatuses, problemOf, rawFetch, type Build } from './api.ts';
import { copyButton, duration, elapsed, estimateText, fill, h, ordinal, shortId, statusBadge, when } from './dom.ts';
import { followLog } from './log-stream.ts';
import { stepText } from '../../../core/eta/step-words.ts';
import { setTitle, type Page } from './page.ts';

export async function buildPage({ main, signal }: Page, id: string): Promise<void> {
  setTitle(`Build ${shortId(id)}`);
  let build = await api<Build>(`/v1/builds/${encodeURIComponent(id)}`, { signal });

  // Only the state is a live region (announced when it changes); the ticking times next to it are not.
  const state = h('span', { id: 'build-state', role: 'status' });
  const times = h('span', { id: 'build-times' });
  const status = h('p', { id: 'build-status', class: 'build-status' }, state, times);
  let announced = '';
  const cancelMessage = h('p', { id: 'cancel-message', class: 'hint', role: 'status' });
  const cancel = h('button', { type: 'button', id: 'cancel', class: 'danger' }, 'Cancel build');
  const imageSection = h('section', { class: 'card', 'aria-labelledby': 'image-title' });
  const errorSection = h('section', { class: 'card error', role: 'alert', hidden: true });
  const planSection = h('section', { class: 'card', 'aria-labelledby': 'plan-title' });
  // Progress by steps and time: the bar is not a live region (it moves every second); its text changes per step.
  const progressBar = h('progress', { id: 'build-progress', max: '1', value: '0', 'aria-label': 'Build progress', 'aria-describedby': 'progress-text' });
  const progressText = h('p', { id: 'progress-text', class: 'hint' });
  const progressBox = h('div', { class: 'build-progress', id: 'progress' }, progressBar, progressText);
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  // A named, focusable region (keyboard users scroll it); not a live region: a build prints too much to announce.
  const log = h('pre', { id: 'log', class: 'log', tabindex: '0', role: 'region', 'aria-label': 'Build log', 'aria-busy': 'true' });
  const logState = h('span', { id: 'log-state', class: 'hint' });

  fill(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/builds' }, 'Builds'), ' / ', shortId(id)),
    h('h1', { tabindex: '-1' }, 'Build ', h('code', {}, shortId(id))),
    h('div', { class: 'status-row' }, status, h('div', { class: 'actions' }, cancel)),
    progressBox,
    cancelMessage,
    errorSection,
    imageSection,
    planSection,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'log-title' },
      h('div', { class: 'log-head' }, h('h2', { id: 'log-title' }, 'Log'), logState, h('label', { class: 'inline' }, follow, ' Follow the log')),
      log,
    ),
  );

  const ended = () => endedStatuses.includes(build.status);

  function draw(): void {
    const queued = build.status === 'queued' && typeof build.queuePosition === 'number' ? ` · ${ordinal(build.queuePosition)} in the queue` : '';
    const took = build.startedAt ? ` · ${ended() ? 'took' : 'running for'} ${duration(elapsed(build.startedAt, build.finishedAt))}` : '';
    if (announced !== build.status + queued) {
      announced = build.status + queued;
      fill(state, statusBadge(build.status), queued);
    }
    fill(times, ` queued ${when(build.queuedAt)}${took}`);
    cancel.hidden = ended();
    drawProgress();

    errorSection.hidden = !build.error;
    fill(errorSection, h('h2', {}, 'Why it failed'), h('p', {}, build.error ?? ''));

    fill(
      imageSection,
      h('h2', { id: 'image-title' }, 'Image'),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, build.status === 'succeeded' ? 'Pushed as' : 'Will be pushed as'),
        h('dd', {}, h('code', { id: 'image-ref' }, build.imageRef), ' ', copyButton(() => build.imageRef, 'image reference')),
        build.digest ? [h('dt', {}, 'Digest'), h('dd', {}, h('code', { id: 'image-digest' }, build.digest), ' ', copyButton(() => build.digest ?? '', 'digest'))] : null,
        build.status === 'succeeded'
          ? [h('dt', {}, 'Run it'), h('dd', {}, h('code', { id: 'run-command' }, `docker run --rm ${build.imageRef}`), ' ', copyButton(() => `docker run --rm ${build.imageRef}`, 'run command'))]
          : null,
      ),
    );

    const base = build.plan.base;
    const steps = new Map(build.steps.map((s) => [s.component, s]));
    const live = new Map((build.progress?.steps ?? []).map((s) => [s.component, s]));
    const extra = (build.progress?.steps ?? []).filter((s) => ['pull', 'push', 'verify'].includes(s.component) && s.status !== 'skipped');
    const how: Record<string, string> = { install: 'installed', cache: 'from layer cache', layer: 'prebuilt layer', verify: 'verified', assemble: 'assembled', pull: 'pulled', push: 'pushed' };
    const row = (what: Node | string, key: string, recipe: string | null) => {
      const s = steps.get(key);
      const l = live.get(key);
      const time = s ? duration(s.seconds) : l?.status === 'running' ? `${duration(l.seconds)} of ≈ ${duration(l.estimatedSeconds)}` : l && !ended() ? `≈ ${duration(l.estimatedSeconds)}` : ended() ? '—' : '…';
      return h(
        'tr',
        { 'data-status': s ? 'done' : (l?.status ?? '') },
        h('th', { scope: 'row' }, what),
        h('td', {}, recipe ? h('code', { title: recipe }, recipe.slice(0, 12)) : '—'),
        h('td', { class: 'num' }, time),
        h('td', {}, s ? (how[s.kind ?? (s.cached ? 'cache' : 'install')] ?? '') : l?.status === 'running' ? 'now' : ''),
      );
    };
    const stepName: Record<string, string> = { pull: 'pull the base image', push: 'push the image', verify: 'verify the combination' };
    fill(
      planSection,
      h('h2', { id: 'plan-title' }, 'Plan'),
      h(
        'p',
        { id: 'plan-base' },
        base.kind === 'template'
          ? [
              'Starts from template ',
              h('a', { href: '#/templates' }, h('code', {}, shortId(base.templateId))),
              ` (already holds ${base.covers.join(', ')}), sparing about ${duration(base.secondsSaved)} of installing.`,
            ]
          : ['Starts from the root image ', h('code', {}, build.plan.root.image), ': no template holds these components yet.'],
      ),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { id: 'plan-steps' },
          h('caption', { class: 'sr-only' }, 'Steps of the build, in order, with their times'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Step'), h('th', { scope: 'col' }, 'Recipe'), h('th', { scope: 'col', class: 'num' }, 'Time'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Cache')))),
          h(
            'tbody',
            {},
            ...extra.filter((x) => x.component === 'pull').map((x) => row(stepName.pull!, x.component, null)),
            ...build.plan.components.map((c) => row(c.key, c.key, c.recipeHash)),
            ...extra.filter((x) => x.component === 'verify').map((x) => row(stepName.verify!, x.component, null)),
            row(h('span', {}, 'your binary → ', h('code', {}, build.plan.binary.path)), 'binary', null),
            ...extra.filter((x) => x.component === 'push').map((x) => row(stepName.push!, x.component, null)),
          ),
        ),
      ),
    );
  }
  draw();

  /** The bar and its words: where the build is, how long it has left, what was estimated when it was submitted. */
  function drawProgress(): void {
    const p = build.progress;
    const said = p?.submitted ? ` Estimated when submitted: ${estimateText(p.submitted)}.` : '';
    progressBox.hidden = !p || build.status === 'failed' || build.status === 'canceled';
    if (!p) return;
    progressBar.value = p.fraction;
    const left = p.remainingSeconds !== null && p.remainingLow !== null && p.remainingHigh !== null ? estimateText({ seconds: p.remainingSeconds, low: p.remainingLow, high: p.remainingHigh }) : null;
    if (build.status === 'queued') {
      fill(progressText, p.queueSeconds ? `Starts in about ${duration(p.queueSeconds)}; ` : 'Waiting for a builder; ', left ? `done in ${left}.` : '', said);
    } else if (build.status === 'running') {
      const c = p.currentStep;
      const words = c ? `Step ${c.index} of ${c.total}: ${stepText(c)}` : 'Starting';
      fill(progressText, h('span', { id: 'progress-step' }, words), ` · ${duration(p.elapsedSeconds)} so far`, left ? ` · ${left} left.` : '.', said);
    } else {
      fill(progressText, `Took ${duration(p.elapsedSeconds)}.`, said);
    }
  }

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    fill(cancelMessage, 'Asking kiln to cancel…');
    try {
      const res = await rawFetch(`/v1/builds/${encodeURIComponent(id)}/cancel`, { method: 'POST', signal });
      if (res.status === 202) {
        const body = (await res.json()) as { status: string };
        fill(cancelMessage, body.status === 'canceled' ? 'Canceled before it started.' : 'Stopping the build…');
        await refresh();
      } else {
        const p = await problemOf(res);
        fill(cancelMessage, res.status === 404 && !p ? 'This kiln cannot cancel builds.' : `Not canceled: ${p?.detail ?? `HTTP ${res.status}`}`);
      }
    } catch (err) {
      if (!signal.aborted) fill(cancelMessage, `Not canceled: ${(err as Error).message}`);
    } finally {
      cancel.disabled = false;
    }
  });

  async function refresh(): Promise<void> {
    try {
      build = await api<Build>(`/v1/builds/${encodeURIComponent(id)}`, { signal });
      draw();
    } catch (err) {
      if (!(err instanceof ApiError)) return; // network blip or left the page: the next round tries again
      throw err;
    }
  }

  // Status: a look every second while the build runs (queue position and step times change too).
  void (async () => {
    while (!signal.aborted && !ended()) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!signal.aborted) await refresh().catch(() => undefined);
    }
  })();

  // Log: follows while the build runs; keeps to the bottom unless the user scrolled up or unticked Follow.
  let text = '';
  // The engine's output carries terminal colour codes; a page shows the words.
  const ansi = /\x1b\[[0-9;?]*[A-Za-z]/g;
  const show = () => {
    log.textContent = text.replace(ansi, '');
    if (follow.checked) log.scrollTop = log.scrollHeight;
  };
  log.addEventListener('scroll', () => {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
    if (!atBottom && follow.checked && document.activeElement === log) follow.checked = false;
  });
  follow.addEventListener('change', show);
  fill(logState, ended() ? '' : 'following…');
  void followLog(
    id,
    {
      append(chunk) {
        text += chunk;
        show();
      },
      replace(all) {
        text = all;
        show();
      },
      end() {
        log.setAttribute('aria-busy', 'false');
        fill(logState, 'complete');
        void refresh();
      },
    },
    signal,
  );
}
