// Provenance labels on every image kiln builds: where it came from, from which recipes, with which binary.
import type { BuildPlan } from '../core/build-types.ts';
import type { TemplateRow } from '../core/db/schema/templates.ts';

export function imageLabels(buildId: string, plan: BuildPlan): Record<string, string> {
  return {
    'dev.kiln.build-id': buildId,
    'dev.kiln.root': plan.root.name,
    'dev.kiln.base': plan.base.image,
    ...(plan.base.kind === 'template' ? { 'dev.kiln.template-id': plan.base.templateId, 'dev.kiln.base-digest': plan.base.digest } : {}),
    'dev.kiln.components': plan.components.map((c) => `${c.key}=${c.recipeHash}`).join(','),
    'dev.kiln.upload-sha256': plan.binary.sha256,
  };
}

/** A template's labels: which template, from which base, holding which recipes. */
export function templateLabels(t: Pick<TemplateRow, 'id' | 'root' | 'components'>, baseImage: string): Record<string, string> {
  return {
    'dev.kiln.template-id': t.id,
    'dev.kiln.root': t.root,
    'dev.kiln.base': baseImage,
    'dev.kiln.components': t.components.map((c) => `${c.key}=${c.recipeHash}`).join(','),
  };
}
