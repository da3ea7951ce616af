// Templates as the api serves them: one template, its build log, and an admin's cancel of its build. Templates serve
// every project, so reading them needs any token and stopping one needs an admin token (see template-routes.ts).
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BuildLog } from '../core/build-log.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import type { TemplateRow } from '../core/db/schema/templates.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { cancelKey, templateJobId } from '../core/queues.ts';
import { isUuid } from './api-schemas.ts';

export interface TemplateServiceDeps {
  templates: Pick<TemplateStore, 'get' | 'markEndedUnbuilt'>;
  /** The build queue, where template builds wait. */
  queue: Pick<Queue, 'remove'>;
  redis: Pick<Redis, 'set'>;
  logs: Pick<BuildLog, 'text' | 'writer' | 'finish'>;
  queuePrefix: string;
  log: Logger;
}


export function createTemplateService(deps: TemplateServiceDeps) {
  const get = async (id: string): Promise<TemplateRow> => {
    const t = isUuid(id) ? await deps.templates.get(id) : undefined;
    if (!t) throw new NotFoundError(`no template "${id}"`);
    return t;
  };

  return {
    get,

    async log(id: string): Promise<{ status: string; text: string }> {
      const t = await get(id);
      return { status: t.status, text: await deps.logs.text(id) };
    },

    /**
     * Cancels a template build. One still waiting (or waiting for a smaller template it builds FROM) leaves the queue
     * and ends `canceled` at once; a running one is flagged, and its builder stops the engine's build within about a
     * second and records `canceled`, with nothing pushed. A template that is not being built is a conflict.
     */
    async cancel(id: string): Promise<TemplateRow> {
      const t = await get(id);
      if (t.status !== 'building') throw new ConflictError(`template ${id} is not being built (${t.status}); there is nothing to cancel`);
      // remove() refuses a job a builder holds (it answers 0): that one is running, and the flag stops it.
      const removed = await deps.queue.remove(templateJobId(id));
      if (removed === 1 && (await deps.templates.markEndedUnbuilt(id, 'canceled', 'canceled by an admin before its build started'))) {
        const out = deps.logs.writer(id);
        out.append('kiln: canceled before it started\n');
        await out.flush();
        await deps.logs.finish(id, 'canceled');
        deps.log.info({ templateId: id }, 'waiting template build canceled');
        return get(id);
      }
      await deps.redis.set(cancelKey(deps.queuePrefix, id), '1', 'EX', 7 * 24 * 3600);
      deps.log.info({ templateId: id }, 'cancel requested for a running template build');
      return get(id);
    },
  };
}

export type TemplateService = ReturnType<typeof createTemplateService>;
