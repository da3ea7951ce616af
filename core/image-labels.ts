// The labels every image kiln makes carries, whether the engine builds it or composition assembles its config:
// kiln's own provenance (`dev.kiln.*`) and the OCI standard annotations registries and scanners read
// (`org.opencontainers.image.*`). Pure functions of the build (or template), its base and the time it was made.
import type { BuildPlan, BuildSpec } from './build-types.ts';
import type { PlannedComponent } from './build-types.ts';

/** The image a new one starts FROM, as its OCI base labels name it: a pullable reference and, when known, its digest. */
export interface ImageBase {
  name: string;
  digest?: string;
}

const OCI = 'org.opencontainers.image';

/** `repository:tag` of a reference (registry/path:tag). */
function repositoryAndTag(ref: string): { repository: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { repository: ref.slice(0, i), tag: ref.slice(i + 1) };
}

function ociLabels(o: { created: Date; title: string; version?: string; base: ImageBase; source?: string | undefined; revision?: string | undefined }): Record<string, string> {
  return {
    [`${OCI}.created`]: o.created.toISOString(),
    [`${OCI}.title`]: o.title,
    ...(o.version ? { [`${OCI}.version`]: o.version } : {}),
    [`${OCI}.base.name`]: o.base.name,
    ...(o.base.digest ? { [`${OCI}.base.digest`]: o.base.digest } : {}),
    ...(o.source ? { [`${OCI}.source`]: o.source } : {}),
    ...(o.revision ? { [`${OCI}.revision`]: o.revision } : {}),
  };
}

const componentList = (components: readonly PlannedComponent[]) => components.map((c) => `${c.key}=${c.recipeHash}`).join(',');

/** The label naming the build an image belongs to. */
export const BUILD_ID_LABEL = 'dev.kiln.build-id';

/** The label saying which way a build went, so the image alone tells a composed one from an installed one. */
export const ROUTE_LABEL = 'dev.kiln.route';

/** `install` when the build asked to install (whatever its base), else what its base was: composed, template or root. */
export const routeOf = (plan: Pick<BuildPlan, 'route' | 'base'>): 'install' | BuildPlan['base']['kind'] => plan.route ?? plan.base.kind;

/** A user's build: what it was built from, with which recipes and binary, and where its source lives (webhook, CI). */
export function imageLabels(
  build: { id: string; spec: Pick<BuildSpec, 'image' | 'source' | 'revision'>; plan: BuildPlan },
  base: ImageBase,
  created: Date,
): Record<string, string> {
  const { plan, spec } = build;
  const image = repositoryAndTag(spec.image);
  return {
    [BUILD_ID_LABEL]: build.id,
    'dev.kiln.root': plan.root.name,
    'dev.kiln.base': plan.base.image,
    ...(plan.base.kind === 'template' ? { 'dev.kiln.template-id': plan.base.templateId, 'dev.kiln.base-digest': plan.base.digest } : {}),
    ...(plan.base.kind === 'composed' ? { 'dev.kiln.composition': plan.base.compositionKey, 'dev.kiln.base-digest': plan.base.digest } : {}),
    'dev.kiln.components': componentList(plan.components),
    'dev.kiln.upload-sha256': plan.binary.sha256,
    [ROUTE_LABEL]: routeOf(plan),
    ...ociLabels({ created, title: image.repository, version: image.tag, base, source: spec.source, revision: spec.revision }),
  };
}

/** A template's labels: which template, from which base, holding which recipes. */
export function templateLabels(t: { id: string; root: string; components: readonly PlannedComponent[] }, base: ImageBase, created: Date): Record<string, string> {
  return {
    'dev.kiln.template-id': t.id,
    'dev.kiln.root': t.root,
    'dev.kiln.base': base.name,
    'dev.kiln.components': componentList(t.components),
    ...ociLabels({ created, title: `kiln template ${t.root} ${t.components.map((c) => c.key).join('+')}`, base }),
  };
}
