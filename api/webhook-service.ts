// Webhooks: a project saves a build definition and gets a URL and a secret; a push delivery signed with that secret
// (GitHub's X-Hub-Signature-256) starts that build, tagged with the pushed commit id — once per commit.
import { randomUUID } from 'node:crypto';
import { generateWebhookSecret, pushCommitId, pushSourceUrl, verifySignature } from '../core/auth/webhook-signature.ts';
import type { WebhookStore } from '../core/db/webhook-store.ts';
import type { BuildDefinition, WebhookRow } from '../core/db/schema/webhooks.ts';
import type { BuildRow } from '../core/db/schema/builds.ts';
import { NotFoundError, UnauthorizedError, ValidationError } from '../core/errors.ts';
import { checkPlainText, parseImageName } from '../core/spec-grammar.ts';
import type { Logger } from '../core/logger.ts';
import type { BuildService } from './build-service.ts';
import { isUuid } from './api-schemas.ts';


export interface Delivery {
  body: Buffer;
  signature: string | undefined;
  /** X-GitHub-Event; absent is taken as a push (other senders following the same convention). */
  event: string | undefined;
  contentType: string | undefined;
}

/** A delivery whose signature matched its webhook's secret: only `verify` makes one, and only one starts a build. */
class SignedDelivery {
  constructor(
    readonly hook: WebhookRow,
    readonly delivery: Delivery,
  ) {}
}
export type { SignedDelivery };

export type DeliveryOutcome = { started: false; detail: string } | { started: true; detail: string; build: BuildRow; replayed: boolean };

/**
 * The spec a delivery builds: the definition, with the commit id as the image tag and as the image's revision label,
 * and the pushed repository's address as its source label (unless the definition names one).
 */
export const specFor = (definition: BuildDefinition, tag: string, source?: string) => {
  const { repository, ...rest } = definition;
  // A push is CI, always: it queues behind every interactive build (definitions saved before this rule may say
  // otherwise; they are not obeyed), so no project's pushes can take the place of people waiting at the form.
  const sourceUrl = rest.source ?? source;
  return { ...rest, revision: tag, ...(sourceUrl ? { source: sourceUrl } : {}), image: `${repository}:${tag}`, priority: 'ci' as const };
};

/** GitHub sends JSON, or (if so configured) a form with the JSON in `payload`; both are signed as sent. */
function parsePayload(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  try {
    if (contentType?.startsWith('application/x-www-form-urlencoded')) return JSON.parse(new URLSearchParams(text).get('payload') ?? 'null');
    return JSON.parse(text);
  } catch {
    throw new ValidationError([{ field: 'body', message: 'is not a JSON push payload' }]);
  }
}

export function createWebhookService(deps: { store: WebhookStore; builds: Pick<BuildService, 'create' | 'check'>; log: Logger }) {
  const get = async (project: string, id: string): Promise<WebhookRow> => {
    const row = isUuid(id) ? await deps.store.getInProject(project, id) : undefined;
    if (!row) throw new NotFoundError(`no webhook "${id}"`);
    return row;
  };

  return {
    get,
    list: (project: string) => deps.store.list(project),

    /** Saves a definition after checking it as a build (with a placeholder tag), listing every problem at once. */
    async create(project: string, input: { name: string; definition: BuildDefinition }): Promise<WebhookRow> {
      const nameProblem = checkPlainText(input.name, 100);
      const repo = parseImageName(`${input.definition.repository}:tag`);
      const problems = [
        ...(nameProblem ? [{ field: 'name', message: nameProblem }] : []),
        ...(typeof repo === 'string' ? [{ field: 'definition.repository', message: repo }] : []),
      ];
      try {
        await deps.builds.check(project, specFor(input.definition, 'latest'));
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        problems.push(...err.problems.filter((p) => p.field !== 'image').map((p) => ({ ...p, field: `definition.${p.field}` })));
      }
      if (problems.length > 0) throw new ValidationError(problems);
      return deps.store.insert({ id: randomUUID(), project, name: input.name, definition: input.definition, secret: generateWebhookSecret() });
    },

    async delete(project: string, id: string): Promise<void> {
      if (!isUuid(id) || !(await deps.store.delete(project, id))) throw new NotFoundError(`no webhook "${id}"`);
    },

    /** The webhook a delivery URL names, whoever asks: looked up before its body is read, so a made-up id costs nothing. */
    async find(id: string): Promise<WebhookRow> {
      const hook = isUuid(id) ? await deps.store.get(id) : undefined;
      if (!hook) throw new NotFoundError(`no webhook "${id}"`);
      return hook;
    },

    /** Checks the signature before anything else: an unsigned or wrongly signed delivery is refused, and starts nothing. */
    verify(hook: WebhookRow, delivery: Delivery): SignedDelivery {
      if (!verifySignature(hook.secret, delivery.body, delivery.signature)) {
        deps.log.warn({ webhookId: hook.id }, 'webhook delivery with a missing or wrong signature');
        throw new UnauthorizedError('missing or wrong X-Hub-Signature-256 (sha256=<hex HMAC-SHA256 of the body with the webhook secret>)');
      }
      return new SignedDelivery(hook, delivery);
    },

    /** Acts on a signed delivery: a ping, an ignored event, or a push that builds its commit. */
    async deliver({ hook, delivery }: SignedDelivery): Promise<DeliveryOutcome> {
      const id = hook.id;
      if (delivery.event === 'ping') return { started: false, detail: 'pong' };
      if (delivery.event !== undefined && delivery.event !== 'push') return { started: false, detail: `event "${delivery.event}" ignored: only push starts a build` };
      const payload = parsePayload(delivery.body, delivery.contentType);
      const commit = pushCommitId(payload);
      if (!commit) return { started: false, detail: 'no commit in the payload (head_commit.id or after), e.g. a deleted branch: nothing to build' };
      // Keyed by commit: a redelivery, or the same commit pushed to a second branch, is the same image and one build.
      const { build, replayed } = await deps.builds.create(hook.project, specFor(hook.definition, commit, pushSourceUrl(payload)), {
        idempotencyKey: `webhook:${hook.id}:${commit}`,
      });
      deps.log.info({ webhookId: id, commit, buildId: build.id, replayed }, 'webhook delivery');
      return { started: true, detail: replayed ? `commit ${commit} was already built or building` : `build of commit ${commit} queued`, build, replayed };
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
