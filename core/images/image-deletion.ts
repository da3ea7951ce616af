// Deleting images kiln pushed, by a user (DELETE /v1/images/:id) or by a project's retention rule. A registry deletes
// a manifest by digest, which takes away every tag pointing at it: so a digest another tag still points to is never
// deleted — a user is told which tags, retention keeps it back and says why.
import type { ImageStore } from '../db/image-store.ts';
import type { ImageRow } from '../db/schema/images.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors.ts';
import { isKilnNamespace } from '../kiln-repositories.ts';
import type { Logger } from '../logger.ts';
import type { RegistryClient } from '../registry-client.ts';
import { decideRetention } from './retention-rule.ts';

export interface ImageDeletionDeps {
  images: Pick<ImageStore, 'get' | 'current' | 'markDeleted' | 'rule' | 'rules' | 'recordRun'>;
  registry: Pick<RegistryClient, 'tags' | 'manifestDigest' | 'deleteManifest'>;
  /** REGISTRY_PREFIX: a project's images live under <prefix>/<project>/. */
  registryPrefix: string;
  log: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
}

export interface RetentionResult {
  project: string;
  rule: { keepNewest: number | null; keepDays: number | null };
  ranAt: string;
  kept: number;
  deleted: { id: string; repository: string; tag: string; digest: string }[];
  /** Named by the rule but not deleted: another tag points at the digest, or the registry failed. */
  keptBack: { id: string; repository: string; tag: string; reason: string }[];
}

export const registryRepository = (prefix: string, project: string, repository: string) => `${prefix}/${project}/${repository}`;

/** Per repository, which tags point at which digest right now (one listing per repository, reused within a run). */
function tagIndex(registry: ImageDeletionDeps['registry']) {
  const byRepository = new Map<string, Promise<Map<string, string[]>>>();
  const read = async (repository: string) => {
    const index = new Map<string, string[]>();
    for (const tag of await registry.tags(repository)) {
      const digest = await registry.manifestDigest(repository, tag);
      if (digest) index.set(digest, [...(index.get(digest) ?? []), tag]);
    }
    return index;
  };
  return {
    async tagsAt(repository: string, digest: string): Promise<string[]> {
      if (!byRepository.has(repository)) byRepository.set(repository, read(repository));
      return (await byRepository.get(repository)!).get(digest) ?? [];
    },
    async forget(repository: string, digest: string): Promise<void> {
      (await byRepository.get(repository))?.delete(digest);
    },
  };
}

export function createImageDeletion(deps: ImageDeletionDeps) {
  const now = deps.now ?? (() => new Date());

  /** Deletes the manifest unless a tag other than the image's own points at it; the other tags otherwise. */
  async function deleteManifest(image: ImageRow, index: ReturnType<typeof tagIndex>, by: 'user' | 'retention'): Promise<{ others: string[] }> {
    // A project named like one of kiln's repositories (made before the names were reserved) shares its path: what
    // sits there are kiln's layers, roots or templates, whatever the project's records say.
    if (isKilnNamespace(image.project)) throw new ForbiddenError(`project "${image.project}" may not delete images: its namespace is kiln's own repository ${deps.registryPrefix}/${image.project}`);
    const repository = registryRepository(deps.registryPrefix, image.project, image.repository);
    const others = (await index.tagsAt(repository, image.digest)).filter((t) => t !== image.tag);
    if (others.length > 0) return { others };
    await deps.registry.deleteManifest(repository, image.digest);
    await index.forget(repository, image.digest);
    await deps.images.markDeleted(image.id, by);
    deps.log.info({ project: image.project, imageId: image.id, ref: image.imageRef, digest: image.digest, by }, 'image deleted from the registry');
    return { others: [] };
  }

  return {
    /** A user's delete: 404 for an image the project does not have; 409 when other tags would go with it. */
    async deleteImage(project: string, id: string): Promise<ImageRow> {
      const image = await deps.images.get(project, id);
      if (!image) throw new NotFoundError(`no image "${id}"`);
      if (image.status === 'deleted') return image;
      const { others } = await deleteManifest(image, tagIndex(deps.registry), 'user');
      if (others.length > 0) {
        const repository = registryRepository(deps.registryPrefix, project, image.repository);
        throw new ConflictError(
          `tag${others.length > 1 ? 's' : ''} ${others.map((t) => `${repository}:${t}`).join(', ')} point${others.length > 1 ? '' : 's'} at the same manifest ` +
            `(${image.digest}); deleting it would delete ${others.length > 1 ? 'them' : 'it'} too: nothing was deleted`,
        );
      }
      return (await deps.images.get(project, id))!;
    },

    /** Applies the project's rule now (nothing when it has none); the result is recorded with the rule. */
    async applyRetention(project: string): Promise<RetentionResult | undefined> {
      const rule = await deps.images.rule(project);
      if (!rule) return undefined;
      const at = now();
      const decision = decideRetention(await deps.images.current(project), rule, at);
      const index = tagIndex(deps.registry);
      const result: RetentionResult = {
        project,
        rule: { keepNewest: rule.keepNewest, keepDays: rule.keepDays },
        ranAt: at.toISOString(),
        kept: decision.keep.length,
        deleted: [],
        keptBack: [],
      };
      for (const image of decision.delete) {
        const named = { id: image.id, repository: image.repository, tag: image.tag };
        try {
          const { others } = await deleteManifest(image, index, 'retention');
          if (others.length > 0) result.keptBack.push({ ...named, reason: `tag(s) ${others.join(', ')} still point at its digest ${image.digest}` });
          else result.deleted.push({ ...named, digest: image.digest });
        } catch (err) {
          // The registry may be away for a moment: the next run tries again.
          result.keptBack.push({ ...named, reason: (err as Error).message });
        }
      }
      await deps.images.recordRun(project, result);
      deps.log.info({ project, deleted: result.deleted.length, keptBack: result.keptBack.length, kept: result.kept }, 'retention applied');
      return result;
    },

    /** Every project's rule, one project after another (the scheduled run). */
    async applyAllRules(): Promise<RetentionResult[]> {
      const out: RetentionResult[] = [];
      for (const { project } of await deps.images.rules()) {
        try {
          const r = await this.applyRetention(project);
          if (r) out.push(r);
        } catch (err) {
          deps.log.warn({ project, err: (err as Error).message }, 'retention could not run for a project');
        }
      }
      return out;
    },
  };
}

export type ImageDeletion = ReturnType<typeof createImageDeletion>;
