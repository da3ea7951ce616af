// The shapes of kiln's time estimates: what the estimator learns from (recorded steps and builds) and what it answers
// (a value with a range, per step and in total). Shared by the api, the stores and the bench.
import type { StepKind } from '../db/schema/builds.ts';

/** Which way a build goes (api/build-preview.ts, builder/build-route.ts). */
export type Route = 'composed' | 'template' | 'install';

/** An estimate in seconds: the value kiln shows and the range the real time should fall in (10th–90th percentile). */
export interface Estimate {
  seconds: number;
  low: number;
  high: number;
  /** What priced it: measurements of this installation, the catalog's estimates (nothing measured yet), or both. */
  basis: 'history' | 'catalog' | 'mixed';
}

/** One step a build is expected to take. */
export interface EstimatedStep {
  kind: StepKind;
  /** Component key, `binary`, `verify`, `pull` or `push` (as the recorded steps name them). */
  component: string;
  /** Its typical seconds (its median, for the outcome that is likelier: cached or installed). */
  seconds: number;
  /** An install step: its seconds when installed and when the layer cache answers it, and how likely the cache is. */
  coldSeconds?: number;
  cachedSeconds?: number;
  cacheChance?: number;
  /** A step that may not happen at all (a pull, only on a builder without the template): its chance. */
  chance?: number;
}

export interface RunEstimate extends Estimate {
  route: Route;
  steps: EstimatedStep[];
}

/** What POST /v1/builds answered, kept on the build (so its accuracy can be checked once it ends). */
export interface SubmitEstimate {
  route: Route;
  seconds: number;
  low: number;
  high: number;
  basis: Estimate['basis'];
  /** Of `seconds`, the wait in the queue and the run (with the run's own range: builds behind it wait for it). */
  queueSeconds: number;
  runSeconds: number;
  runLow?: number;
  runHigh?: number;
}

/** One recorded step, as the estimator learns from it. Times are epoch seconds. */
export interface StepSample {
  /** When its build finished. */
  t: number;
  kind: StepKind;
  component: string;
  seconds: number;
  bytes: number | null;
  /**
   * Install and cache steps of builds: what the step stood on (the base and the components installed before it);
   * null for template builds' steps. The engine's cache answers a step only for a prefix it has seen.
   */
  prefix: string | null;
  /** Whether every step before it in its build came from the cache (else the cache could not have answered it). */
  afterCached: boolean;
  /** verify: how many components the combination had. */
  components: number;
}

/** One ended build. */
export interface BuildSample {
  route: Route;
  queuedAt: number;
  startedAt: number;
  finishedAt: number;
  /** Sum of its recorded steps' seconds (the rest of its run is kiln's own overhead). */
  stepSeconds: number;
  /** Template route: the template it started FROM, and whether it had to be pulled. */
  templateId: string | null;
  pulled: boolean;
}

/** What a build will do, as far as kiln knows before it runs (from the preview or the plan). */
export interface RunRequest {
  route: Route;
  root: string;
  /** Component keys in install order. */
  components: string[];
  /** Template route: what the template holds (not installed), its id and size. */
  covered: string[];
  templateId: string | null;
  templateBytes: number | null;
  /** Composed: false when this build verifies the combination first. */
  verified: boolean | null;
  /** The upload's size (unknown before a file is chosen). */
  binaryBytes: number | null;
}

/** The base an install step stands on, and its prefix key (what the engine's cache is keyed by, in effect). */
export const baseKey = (r: Pick<RunRequest, 'route' | 'root' | 'templateId'>) => (r.route === 'template' && r.templateId ? `tpl:${r.templateId}` : `root:${r.root}`);
export const prefixKey = (base: string, before: readonly string[]) => [base, ...before].join('>');
